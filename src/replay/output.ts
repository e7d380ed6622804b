// Writes the model's intervals and checks into DuckDB through appenders.
import { ChunkAppender, type Value } from '../analysis/chunk-appender.js';
import type { Db } from '../analysis/db.js';
import type { AdapterOutput, CheckpointRow, PgtableRow, RssRow } from './adapter.js';
import type { CallRow, ExclusiveOutput, PageRow, RequestRow } from './device_exclusive.js';
import type { Sink } from './model.js';
import type { Folio, Mm, Pte, Vma } from './types.js';

export class ReplayWriter implements Sink, AdapterOutput, ExclusiveOutput {
  private a: Record<string, ChunkAppender> = {};
  fileId = 0;
  design = '';
  /** false for a counterfactual design: only the exclusive_* tables are written. */
  full = true;
  now = 0n;
  eventId = 0n;
  violations = 0;

  private constructor(readonly db: Db) {}

  static async open(db: Db): Promise<ReplayWriter> {
    const w = new ReplayWriter(db);
    for (const t of ['vma_intervals', 'pte_intervals', 'folio_intervals', 'rss_check', 'pgtable_check', 'invariant_violations', 'pagemap_check', 'tasks', 'mm', 'exclusive_requests', 'exclusive_calls', 'exclusive_pages']) {
      w.a[t] = new ChunkAppender(await db.conn.createAppender(t));
    }
    return w;
  }

  pte(mm: Mm, vpn: number, p: Pte, end: bigint): void {
    if (!this.full) return;
    const f = p.folio;
    const pfn = f && f.pfn !== null ? f.pfn + BigInt(p.index) : null;
    this.a.pte_intervals.put([
      this.fileId, p.since, end - p.since, mm.id, vpn * 4096, p.kind, pfn, f?.id ?? null,
      p.kind === 'present' ? p.write : p.entryWrite, p.dirty, p.softDirty, p.uffdWp, p.pmd, f?.zero ?? false, p.sinceEvent,
      p.kind === 'present' && f && !f.zero ? f.pfnConfidence : p.confidence,
    ]);
  }

  folio(f: Folio, end: bigint | null): void {
    if (!this.full) return;
    this.a.folio_intervals.put([
      this.fileId, f.since, end === null ? null : end - f.since, f.id, f.pfn, f.pfnConfidence, f.order, f.anon, f.refcount, f.mapcount, f.entireMapcount,
      f.pincount, f.locked, f.anonExclusive, f.lru, f.freed, f.sinceEvent,
    ]);
  }

  vma(mm: Mm, v: Vma, end: bigint): void {
    if (!this.full) return;
    const prot = `${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.exec ? 'x' : '-'}`;
    this.a.vma_intervals.put([this.fileId, v.since, end - v.since, mm.id, v.id, v.start, v.end, prot, v.shared, v.file, v.pgoff, v.hugepage, v.anonVma, v.preTrace]);
  }

  violation(rule: string, explanation: string, label: string): void {
    this.violations++;
    if (!this.full) return;
    this.a.invariant_violations.put([this.fileId, this.eventId, this.now, rule, explanation, label]);
  }

  rss(r: RssRow): void {
    if (!this.full) return;
    this.a.rss_check.put([this.fileId, r.eventId, r.ts, r.mm, r.member, r.kernel, r.model, r.match, r.note]);
  }

  pgtable(r: PgtableRow): void {
    if (!this.full) return;
    this.a.pgtable_check.put([this.fileId, r.eventId, r.mm, r.va, r.kernel, r.model, r.match, r.note]);
  }

  checkpoint(r: CheckpointRow): void {
    if (!this.full) return;
    this.a.pagemap_check.put([
      this.fileId, r.eventId, r.ts, r.label, r.pid, r.mm, r.va, r.kernelState, r.kernelPfn, r.kernelFlags, r.modelState, r.modelPfn,
      r.confidence, r.presentMatch, r.pfnMatch,
    ]);
  }

  task(vals: Value[]): void {
    if (this.full) this.a.tasks.put(vals);
  }

  mm(vals: Value[]): void {
    if (this.full) this.a.mm.put(vals);
  }

  request(r: RequestRow): void {
    this.a.exclusive_requests.put([
      this.fileId, this.design, r.requestId, r.ts, r.dur, r.tid, r.mm, r.start, r.npages, r.predicted, r.observed, r.calls, r.failedPages, r.enoentPages, r.note,
    ]);
  }

  call(c: CallRow): void {
    this.a.exclusive_calls.put([
      this.fileId, this.design, c.callId, c.requestId, c.ts, c.dur, c.start, c.npages, c.gupCount, c.result, c.failedPages, c.observedResult, c.observedFailed, c.walkTiming,
    ]);
  }

  page(p: PageRow): void {
    this.a.exclusive_pages.put([
      this.fileId, this.design, p.callId, p.index, p.address, p.gupPfn, p.outcome, p.cause, p.culpritEvent, p.culpritTid, p.culpritTs, p.windowNs, p.walkTs, p.pinTs, p.pinLo, p.pinHi, p.observed,
    ]);
  }

  close(): void {
    for (const a of Object.values(this.a)) a.close();
  }
}
