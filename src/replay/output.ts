// Writes the model's intervals and checks into DuckDB through appenders.
import { ChunkAppender, type Value } from '../analysis/chunk-appender.js';
import type { Db } from '../analysis/db.js';
import type { AdapterOutput, CheckpointRow, PgtableRow, RssRow } from './adapter.js';
import type { CallRow, ExclusiveOutput, PageRow, RequestRow } from './device_exclusive.js';
import type { Sink } from './model.js';
import type { Folio, Mm, Pte, Task, Vma } from './types.js';

export class ReplayWriter implements Sink, AdapterOutput, ExclusiveOutput {
  private a: Record<string, ChunkAppender> = {};
  fileId = 0;
  design = '';
  /** false for a counterfactual design: only the exclusive_* tables are written. */
  full = true;
  now = 0n;
  eventId = 0n;
  violations = 0;

  /** The busiest tables' appenders (also in `a`). */
  private ptes!: ChunkAppender;
  private folios!: ChunkAppender;
  private rssRows!: ChunkAppender;
  private pgtables!: ChunkAppender;

  private constructor(readonly db: Db) {}

  static async open(db: Db): Promise<ReplayWriter> {
    const w = new ReplayWriter(db);
    for (const t of ['vma_intervals', 'pte_intervals', 'folio_intervals', 'rss_check', 'pgtable_check', 'invariant_violations', 'pagemap_check', 'tasks', 'mm', 'exclusive_requests', 'exclusive_calls', 'exclusive_pages']) {
      w.a[t] = new ChunkAppender(await db.conn.createAppender(t));
    }
    w.ptes = w.a.pte_intervals;
    w.folios = w.a.folio_intervals;
    w.rssRows = w.a.rss_check;
    w.pgtables = w.a.pgtable_check;
    return w;
  }

  // The row writers below set each column in place (ChunkAppender.set, then endRow): the same as
  // put() with the row's values in order, without an array per row.

  pte(mm: Mm, vpn: number, p: Pte, end: bigint): void {
    if (!this.full) return;
    const f = p.folio;
    const pfn = f && f.pfn !== null ? (p.index === 0 ? f.pfn : f.pfn + BigInt(p.index)) : null;
    const a = this.ptes;
    a.set(0, this.fileId);
    a.set(1, p.since);
    a.set(2, end - p.since);
    a.set(3, mm.id);
    a.set(4, vpn * 4096);
    a.set(5, p.kind);
    a.set(6, pfn);
    a.set(7, f?.id ?? null);
    a.set(8, p.kind === 'present' ? p.write : p.entryWrite);
    a.set(9, p.dirty);
    a.set(10, p.softDirty);
    a.set(11, p.uffdWp);
    a.set(12, p.pmd);
    a.set(13, f?.zero ?? false);
    a.set(14, p.sinceEvent);
    a.set(15, p.kind === 'present' && f && !f.zero ? f.pfnConfidence : p.confidence);
    a.endRow();
  }

  folio(f: Folio, end: bigint | null): void {
    if (!this.full) return;
    const a = this.folios;
    a.set(0, this.fileId);
    a.set(1, f.since);
    a.set(2, end === null ? null : end - f.since);
    a.set(3, f.id);
    a.set(4, f.pfn);
    a.set(5, f.pfnConfidence);
    a.set(6, f.order);
    a.set(7, f.anon);
    a.set(8, f.refcount);
    a.set(9, f.mapcount);
    a.set(10, f.entireMapcount);
    a.set(11, f.pincount);
    a.set(12, f.locked);
    a.set(13, f.anonExclusive);
    a.set(14, f.lru);
    a.set(15, f.freed);
    a.set(16, f.sinceEvent);
    a.endRow();
  }

  vma(mm: Mm, v: Vma, end: bigint): void {
    if (!this.full) return;
    const prot = `${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.exec ? 'x' : '-'}`;
    this.a.vma_intervals.put([this.fileId, v.since, end - v.since, mm.id, v.id, v.start, v.end, prot, v.shared, v.file, v.pgoff, v.hugepage, v.anonVma, v.preTrace]);
  }

  /**
   * Every design's violations are kept. A counterfactual design replays the recorded events under
   * another algorithm: what would be the kernel's or the model's fault in the recorded design is
   * there the counterfactual departing from the kernel that ran.
   */
  violation(rule: string, explanation: string, label: string): void {
    this.violations++;
    this.a.invariant_violations.put([this.fileId, this.eventId, this.now, rule, explanation, !this.full && (label === 'model' || label === 'kernel') ? 'divergence' : label, this.design]);
  }

  rss(r: RssRow): void {
    if (!this.full) return;
    const a = this.rssRows;
    a.set(0, this.fileId);
    a.set(1, r.eventId);
    a.set(2, r.ts);
    a.set(3, r.mm);
    a.set(4, r.member);
    a.set(5, r.kernel);
    a.set(6, r.model);
    a.set(7, r.match);
    a.set(8, r.note);
    a.endRow();
  }

  pgtable(r: PgtableRow): void {
    if (!this.full) return;
    const a = this.pgtables;
    a.set(0, this.fileId);
    a.set(1, r.eventId);
    a.set(2, r.mm);
    a.set(3, r.va);
    a.set(4, r.kernel);
    a.set(5, r.model);
    a.set(6, r.match);
    a.set(7, r.note);
    a.endRow();
  }

  checkpoint(r: CheckpointRow): void {
    if (!this.full) return;
    this.a.pagemap_check.put([
      this.fileId, r.eventId, r.ts, r.label, r.pid, r.mm, r.va, r.kernelState, r.kernelPfn, r.kernelFlags, r.modelState, r.modelPfn,
      r.confidence, r.presentMatch, r.pfnMatch,
    ]);
  }

  task(t: Task): void {
    if (this.full) this.a.tasks.put([this.fileId, t.tid, t.tgid, t.mm?.id ?? null, t.comm, t.first, t.last, t.preTrace]);
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
