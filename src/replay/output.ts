// Writes the model's intervals and checks into DuckDB through appenders.
import { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, DuckDBTypeId, ENUM, VARCHAR, type DuckDBAppender, type DuckDBType } from '@duckdb/node-api';
import type { Db } from '../analysis/db.js';
import type { AdapterOutput, CheckpointRow, PgtableRow, RssRow } from './adapter.js';
import type { CallRow, ExclusiveOutput, PageRow, RequestRow } from './device_exclusive.js';
import type { Sink } from './model.js';
import type { Folio, Mm, Pte, Vma } from './types.js';

type V = string | number | bigint | boolean | null;

/**
 * One output table's rows, a data chunk at a time: values cross into DuckDB once per chunk, not
 * once each. Each column's vector type is picked per chunk from the values it holds, and the
 * appender casts to the table's type (refusing what does not fit, as it did per value): numbers as
 * DOUBLE (BIGINT when any value is a bigint), strings as an ENUM of the chunk's distinct strings.
 */
class Rows {
  private readonly cols: V[][];
  private readonly types: DuckDBTypeId[] = [];
  private n = 0;
  private static readonly SIZE = 2048;

  constructor(private readonly a: DuckDBAppender) {
    for (let i = 0; i < a.columnCount; i++) this.types.push(a.columnType(i).typeId);
    this.cols = this.types.map(() => new Array<V>(Rows.SIZE));
  }

  put(vals: V[]): void {
    for (let i = 0; i < vals.length; i++) this.cols[i][this.n] = vals[i];
    if (++this.n === Rows.SIZE) this.flush();
  }

  flush(): void {
    const n = this.n;
    if (!n) return;
    const types = this.cols.map((c, i) => vectorType(c, n, this.types[i]));
    const chunk = DuckDBDataChunk.create(types, n);
    for (let i = 0; i < types.length; i++) {
      const v = chunk.getColumnVector(i);
      const c = this.cols[i];
      const id = types[i].typeId;
      for (let j = 0; j < n; j++) {
        const x = c[j];
        v.setItem(j, id === DuckDBTypeId.BIGINT && typeof x === 'number' ? BigInt(x) : id === DuckDBTypeId.DOUBLE && typeof x === 'bigint' ? Number(x) : x);
        c[j] = null;
      }
      v.flush();
    }
    this.a.appendDataChunk(chunk);
    this.n = 0;
  }

  close(): void {
    this.flush();
    this.a.closeSync();
  }
}

function vectorType(c: V[], n: number, table: DuckDBTypeId): DuckDBType {
  if (table === DuckDBTypeId.BOOLEAN) return BOOLEAN;
  if (table === DuckDBTypeId.VARCHAR) {
    const distinct = new Set<string>();
    for (let j = 0; j < n; j++) if (c[j] !== null) distinct.add(c[j] as string);
    return distinct.size ? ENUM([...distinct]) : VARCHAR;
  }
  if (table === DuckDBTypeId.BIGINT) for (let j = 0; j < n; j++) if (typeof c[j] === 'bigint') return BIGINT;
  return DOUBLE;
}

export class ReplayWriter implements Sink, AdapterOutput, ExclusiveOutput {
  private a: Record<string, Rows> = {};
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
      w.a[t] = new Rows(await db.conn.createAppender(t));
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

  folio(f: Folio, end: bigint): void {
    if (!this.full) return;
    this.a.folio_intervals.put([
      this.fileId, f.since, end - f.since, f.id, f.pfn, f.pfnConfidence, f.order, f.anon, f.refcount, f.mapcount, f.entireMapcount,
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

  task(vals: V[]): void {
    if (this.full) this.a.tasks.put(vals);
  }

  mm(vals: V[]): void {
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
