// Writes the model's intervals and checks into DuckDB through column batches (replay-io.ts appends
// them), each row by column name (columns.ts: every replay table's columns in the order of its
// CREATE TABLE).
import type { ColumnBatch } from '../store/column-batch.js';
import type { AdapterOutput, CheckpointRow, PgtableRow, RssRow } from './adapter.js';
import type { CallRow, ExclusiveOutput, PageRow, RequestRow } from './device_exclusive.js';
import { COLUMNS, positions, type Row, type Table } from './columns.js';
import type { Sink } from './model.js';
import type { Folio, Mm, Pte, Task, Vma } from './types.js';

const PTE = positions('pte_intervals');
const FOLIO = positions('folio_intervals');
const RSS = positions('rss_check');
const PGTABLE = positions('pgtable_check');

export class ReplayWriter implements Sink, AdapterOutput, ExclusiveOutput {
  private a!: Record<string, ColumnBatch>;
  fileId = 0;
  design = '';
  /** false for a counterfactual design: only the exclusive_* tables are written. */
  full = true;
  /** The event being replayed (stream.ts's view of it): read, not copied on every event. */
  current: { readonly id: number; readonly ts: bigint } = { id: 0, ts: 0n };
  violations = 0;
  /** Of the violations, those labelled divergence (a counterfactual design parting from the trace). */
  divergences = 0;
  /** folio_intervals rows written to run to the end of the trace (dur NULL until it is known). */
  openEnded = 0;

  /** The busiest tables' appenders (also in `a`). */
  private ptes!: ColumnBatch;
  private folios!: ColumnBatch;
  private rssRows!: ColumnBatch;
  private pgtables!: ColumnBatch;

  /** `tables`: where each table's rows go (ReplayIo.tables); before any row is written. */
  attach(tables: Record<Table, ColumnBatch>): void {
    this.a = tables;
    this.ptes = tables.pte_intervals;
    this.folios = tables.folio_intervals;
    this.rssRows = tables.rss_check;
    this.pgtables = tables.pgtable_check;
  }

  /** Appends one row of table t, its values by column name. */
  private put<T extends Table>(t: T, row: Row<T>): void {
    const a = this.a[t];
    const cols = COLUMNS[t];
    for (let i = 0; i < cols.length; i++) a.set(i, row[cols[i] as keyof Row<T>]);
    a.endRow();
  }

  // The busiest writers below set each column in place by its position (ColumnBatch's typed set()s, then
  // endRow), without an object per row; test/output-columns.test.ts checks each sets every column.

  pte(mm: Mm, vpn: number, p: Pte, end: bigint): void {
    if (!this.full) return;
    const f = p.folio;
    const pfn = f && f.pfn !== null ? f.pfn + p.index : null;
    const a = this.ptes;
    a.setInt(PTE.file_id, this.fileId);
    a.setBig(PTE.ts, p.since);
    a.setBig(PTE.dur, end - p.since);
    a.setInt(PTE.mm, mm.id);
    a.setInt(PTE.va, vpn * 4096);
    a.setStr(PTE.kind, p.kind);
    a.setInt(PTE.pfn, pfn);
    a.setInt(PTE.folio, f?.id ?? null);
    a.setBool(PTE.write, p.kind === 'present' ? p.write : p.entryWrite);
    a.setBool(PTE.dirty, p.dirty);
    a.setBool(PTE.soft_dirty, p.softDirty);
    a.setBool(PTE.uffd_wp, p.uffdWp);
    a.setBool(PTE.pmd, p.pmd);
    a.setBool(PTE.zero_page, f?.zero ?? false);
    a.setInt(PTE.source_event, p.sinceEvent);
    a.setStr(PTE.confidence, p.kind === 'present' && f && !f.zero ? f.pfnConfidence : p.confidence);
    a.endRow();
  }

  folio(f: Folio, end: bigint | null): void {
    if (!this.full) return;
    const a = this.folios;
    a.setInt(FOLIO.file_id, this.fileId);
    a.setBig(FOLIO.ts, f.since);
    if (end === null) this.openEnded++;
    a.setBig(FOLIO.dur, end === null ? null : end - f.since);
    a.setInt(FOLIO.folio, f.id);
    a.setInt(FOLIO.pfn, f.pfn);
    a.setStr(FOLIO.pfn_confidence, f.pfnConfidence);
    a.setInt(FOLIO.order, f.order);
    a.setBool(FOLIO.anon, f.anon);
    a.setInt(FOLIO.refcount, f.refcount);
    a.setInt(FOLIO.mapcount, f.mapcount);
    a.setInt(FOLIO.entire_mapcount, f.entireMapcount);
    a.setInt(FOLIO.pincount, f.pincount);
    a.setBool(FOLIO.locked, f.locked);
    a.setBool(FOLIO.anon_exclusive, f.anonExclusive);
    a.setBool(FOLIO.lru, f.lru);
    a.setBool(FOLIO.freed, f.freed);
    a.setInt(FOLIO.source_event, f.sinceEvent);
    a.endRow();
  }

  vma(mm: Mm, v: Vma, end: bigint): void {
    if (!this.full) return;
    const prot = `${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.exec ? 'x' : '-'}`;
    this.put('vma_intervals', {
      file_id: this.fileId,
      ts: v.since,
      dur: end - v.since,
      mm: mm.id,
      vma: v.id,
      start_va: v.start,
      end_va: v.end,
      prot,
      shared: v.shared,
      file: v.file,
      pgoff: v.pgoff,
      hugepage: v.hugepage,
      anon_vma: v.anonVma,
      pre_trace: v.preTrace,
    });
  }

  /**
   * Every design's violations are kept. A counterfactual design replays the recorded events under
   * another algorithm: what would be the kernel's or the model's fault in the recorded design is
   * there the counterfactual departing from the kernel that ran.
   */
  violation(rule: string, explanation: string, label: string): void {
    this.violations++;
    const as = !this.full && (label === 'model' || label === 'kernel') ? 'divergence' : label;
    if (as === 'divergence') this.divergences++;
    this.put('invariant_violations', {
      file_id: this.fileId,
      event_id: this.current.id,
      ts: this.current.ts,
      rule,
      explanation,
      label: as,
      design: this.design,
    });
  }

  rss(r: RssRow): void {
    if (!this.full) return;
    const a = this.rssRows;
    a.setInt(RSS.file_id, this.fileId);
    a.setInt(RSS.event_id, r.eventId);
    a.setBig(RSS.ts, r.ts);
    a.setInt(RSS.mm, r.mm);
    a.setStr(RSS.member, r.member);
    a.setInt(RSS.kernel_value, r.kernel);
    a.setInt(RSS.model_value, r.model);
    a.setBool(RSS.match, r.match);
    a.setStr(RSS.note, r.note);
    a.endRow();
  }

  pgtable(r: PgtableRow): void {
    if (!this.full) return;
    const a = this.pgtables;
    a.setInt(PGTABLE.file_id, this.fileId);
    a.setInt(PGTABLE.event_id, r.eventId);
    a.setInt(PGTABLE.mm, r.mm);
    a.setInt(PGTABLE.va, r.va);
    a.setInt(PGTABLE.kernel_tables, r.kernel);
    a.setInt(PGTABLE.model_tables, r.model);
    a.setBool(PGTABLE.match, r.match);
    a.setStr(PGTABLE.note, r.note);
    a.endRow();
  }

  checkpoint(r: CheckpointRow): void {
    if (!this.full) return;
    this.put('pagemap_check', {
      file_id: this.fileId,
      event_id: r.eventId,
      ts: r.ts,
      label: r.label,
      pid: r.pid,
      mm: r.mm,
      va: r.va,
      kernel_state: r.kernelState,
      kernel_pfn: r.kernelPfn,
      kernel_flags: r.kernelFlags,
      model_state: r.modelState,
      model_pfn: r.modelPfn,
      confidence: r.confidence,
      present_match: r.presentMatch,
      pfn_match: r.pfnMatch,
    });
  }

  task(t: Task): void {
    if (!this.full) return;
    this.put('tasks', {
      file_id: this.fileId,
      tid: t.tid,
      tgid: t.tgid,
      mm: t.mm?.id ?? null,
      comm: t.comm,
      first_ts: t.first,
      last_ts: t.last,
      pre_trace: t.preTrace,
    });
  }

  mm(row: Row<'mm'>): void {
    if (this.full) this.put('mm', row);
  }

  request(r: RequestRow): void {
    this.put('exclusive_requests', {
      file_id: this.fileId,
      design: this.design,
      request_id: r.requestId,
      ts: r.ts,
      dur: r.dur,
      tid: r.tid,
      mm: r.mm,
      start_va: r.start,
      npages: r.npages,
      predicted_result: r.predicted,
      observed_result: r.observed,
      calls: r.calls,
      failed_pages: r.failedPages,
      enoent_pages: r.enoentPages,
      note: r.note,
    });
  }

  call(c: CallRow): void {
    this.put('exclusive_calls', {
      file_id: this.fileId,
      design: this.design,
      call_id: c.callId,
      request_id: c.requestId,
      ts: c.ts,
      dur: c.dur,
      start_va: c.start,
      npages: c.npages,
      gup_count: c.gupCount,
      result: c.result,
      failed_pages: c.failedPages,
      observed_result: c.observedResult,
      observed_failed_pages: c.observedFailed,
      walk_timing: c.walkTiming,
    });
  }

  page(p: PageRow): void {
    this.put('exclusive_pages', {
      file_id: this.fileId,
      design: this.design,
      call_id: p.callId,
      idx: p.index,
      address: p.address,
      gup_pfn: p.gupPfn,
      outcome: p.outcome,
      cause: p.cause,
      culprit_event: p.culpritEvent,
      culprit_tid: p.culpritTid,
      culprit_ts: p.culpritTs,
      window_ns: p.windowNs,
      walk_ts: p.walkTs,
      pin_ts: p.pinTs,
      pin_lo: p.pinLo,
      pin_hi: p.pinHi,
      observed_outcome: p.observed,
    });
  }

  /** Hands every table's last rows on. */
  close(): void {
    for (const a of Object.values(this.a)) a.flush();
  }
}
