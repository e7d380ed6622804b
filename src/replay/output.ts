// Writes the model's intervals and checks into DuckDB through appenders.
import type { DuckDBAppender } from '@duckdb/node-api';
import type { Db } from '../analysis/db.js';
import type { AdapterOutput, CheckpointRow, PgtableRow, RssRow } from './adapter.js';
import type { CallRow, ExclusiveOutput, PageRow, RequestRow } from './device_exclusive.js';
import type { Sink } from './model.js';
import type { Folio, Mm, Pte, Vma } from './types.js';

type V = string | number | bigint | boolean | null;

function put(a: DuckDBAppender, vals: V[]): void {
  for (const v of vals) {
    if (v === null) a.appendNull();
    else if (typeof v === 'string') a.appendVarchar(v);
    else if (typeof v === 'bigint') a.appendBigInt(v);
    else if (typeof v === 'boolean') a.appendBoolean(v);
    // Small integers skip the BigInt round trip; DuckDB widens them to the column's type.
    else if ((v | 0) === v) a.appendInteger(v);
    else if (Number.isInteger(v)) a.appendBigInt(BigInt(v));
    else a.appendDouble(v);
  }
  a.endRow();
}

export class ReplayWriter implements Sink, AdapterOutput, ExclusiveOutput {
  private a: Record<string, DuckDBAppender> = {};
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
      w.a[t] = await db.conn.createAppender(t);
    }
    return w;
  }

  pte(mm: Mm, vpn: number, p: Pte, end: bigint): void {
    if (!this.full) return;
    const f = p.folio;
    const pfn = f && f.pfn !== null ? f.pfn + BigInt(p.index) : null;
    put(this.a.pte_intervals, [
      this.fileId, p.since, end - p.since, mm.id, vpn * 4096, p.kind, pfn, f?.id ?? null,
      p.kind === 'present' ? p.write : p.entryWrite, p.dirty, p.softDirty, p.uffdWp, p.pmd, f?.zero ?? false, p.sinceEvent,
      p.kind === 'present' && f && !f.zero ? f.pfnConfidence : p.confidence,
    ]);
  }

  folio(f: Folio, end: bigint): void {
    if (!this.full) return;
    put(this.a.folio_intervals, [
      this.fileId, f.since, end - f.since, f.id, f.pfn, f.pfnConfidence, f.order, f.anon, f.refcount, f.mapcount, f.entireMapcount,
      f.pincount, f.locked, f.anonExclusive, f.lru, f.freed, f.sinceEvent,
    ]);
  }

  vma(mm: Mm, v: Vma, end: bigint): void {
    if (!this.full) return;
    const prot = `${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.exec ? 'x' : '-'}`;
    put(this.a.vma_intervals, [this.fileId, v.since, end - v.since, mm.id, v.id, v.start, v.end, prot, v.shared, v.file, v.pgoff, v.hugepage, v.anonVma, v.preTrace]);
  }

  violation(rule: string, explanation: string, label: string): void {
    this.violations++;
    if (!this.full) return;
    put(this.a.invariant_violations, [this.fileId, this.eventId, this.now, rule, explanation, label]);
  }

  rss(r: RssRow): void {
    if (!this.full) return;
    put(this.a.rss_check, [this.fileId, r.eventId, r.ts, r.mm, r.member, r.kernel, r.model, r.match, r.note]);
  }

  pgtable(r: PgtableRow): void {
    if (!this.full) return;
    put(this.a.pgtable_check, [this.fileId, r.eventId, r.mm, r.va, r.kernel, r.model, r.match, r.note]);
  }

  checkpoint(r: CheckpointRow): void {
    if (!this.full) return;
    put(this.a.pagemap_check, [
      this.fileId, r.eventId, r.ts, r.label, r.pid, r.mm, r.va, r.kernelState, r.kernelPfn, r.kernelFlags, r.modelState, r.modelPfn,
      r.confidence, r.presentMatch, r.pfnMatch,
    ]);
  }

  task(vals: V[]): void {
    if (this.full) put(this.a.tasks, vals);
  }

  mm(vals: V[]): void {
    if (this.full) put(this.a.mm, vals);
  }

  request(r: RequestRow): void {
    put(this.a.exclusive_requests, [
      this.fileId, this.design, r.requestId, r.ts, r.dur, r.tid, r.mm, r.start, r.npages, r.predicted, r.observed, r.calls, r.failedPages, r.enoentPages, r.note,
    ]);
  }

  call(c: CallRow): void {
    put(this.a.exclusive_calls, [
      this.fileId, this.design, c.callId, c.requestId, c.ts, c.dur, c.start, c.npages, c.gupCount, c.result, c.failedPages, c.observedResult, c.observedFailed, c.walkTiming,
    ]);
  }

  page(p: PageRow): void {
    put(this.a.exclusive_pages, [
      this.fileId, this.design, p.callId, p.index, p.address, p.gupPfn, p.outcome, p.cause, p.culpritEvent, p.culpritTid, p.culpritTs, p.windowNs, p.walkTs, p.pinTs, p.pinLo, p.pinHi, p.observed,
    ]);
  }

  close(): void {
    for (const a of Object.values(this.a)) a.closeSync();
  }
}
