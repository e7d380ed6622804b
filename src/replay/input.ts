// The replay's input: every event the model uses, in time order, with its fields in numeric slots.
// Nothing sorts the trace: `_events` and each typed table are read in insertion (id) order, each on
// its own connection, and merged by id here; events a trace prints out of order are put back in
// place through a window as wide as the trace's worst disorder.
import type {
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBResult,
  DuckDBValue,
  DuckDBVector,
} from '@duckdb/node-api';
import { quoteIdent, quoteString, type Db } from '../store/db.js';
import { tableName } from '../parse/fields.js';
import type { ReplayEvent } from './adapter.js';
import type { Binding } from './probes.js';

/** Which columns of each typed table feed the six numeric slots (a..f) and the string slot (s). */
/** A 64-bit column as unsigned, whether typed UBIGINT or (printed in decimal, wrapped) BIGINT. */
const U64 = (col: string) =>
  `((${col}::HUGEINT + 18446744073709551616) % 18446744073709551616)::UBIGINT`;

const PROJECTIONS: Record<string, { nums: string[]; s?: string; dict?: true }> = {
  'exceptions:page_fault_user': { nums: ['address', 'error_code', 'ip'] },
  'exceptions:page_fault_kernel': { nums: ['address', 'error_code', 'ip'] },
  // One allocation in five events, and a handful of distinct flag strings: read as an ENUM.
  'kmem:mm_page_alloc': { nums: ['pfn', '"order"'], s: 'gfp_flags', dict: true },
  'kmem:mm_page_free': { nums: ['pfn', '"order"'] },
  'kmem:rss_stat': { nums: ['mm_id', 'member', 'size', 'curr'] },
  'pagemap:mm_lru_insertion': { nums: ['pfn', 'lru'] },
  'task:task_newtask': { nums: ['pid', 'clone_flags'], s: 'comm' },
  'sched:sched_process_fork': { nums: ['child_pid'] },
  'sched:sched_process_exec': { nums: ['pid', 'old_pid'], s: 'filename' },
  'sched:sched_process_exit': { nums: ['pid'] },
  // Each PTE's PFN, exact (a 64-bit PTE as a DOUBLE loses its low bits): a migration entry keeps
  // it inverted above the swap type (x86-64 __swp_offset), with its young and dirty bits at bit 34
  // (SWP_MIG_YOUNG_BIT with 4-level paging); the present PTE remove_migration_pte installs has it
  // at bit 12 (PTE_PFN_MASK).
  'migrate:set_migration_pte': {
    nums: ['addr', `(~(${U64('pte')}) >> 9) & 17179869183`, '"order"'],
  },
  'migrate:remove_migration_pte': {
    nums: ['addr', `(${U64('pte')} >> 12) & 68719476735`, '"order"'],
  },
  'huge_memory:mm_collapse_huge_page_isolate': { nums: ['pfn'], s: 'status_name' },
  'ksm:ksm_merge_with_ksm_page': { nums: ['pfn', 'err', 'ksm_page'] },
  'ftrace:print': { nums: [], s: 'buf' },
  'mmap_lock:mmap_lock_acquire_returned': { nums: ['"write"::INTEGER', 'success::INTEGER'] },
  'mmap_lock:mmap_lock_released': { nums: ['"write"::INTEGER'] },
};

const SYSCALL_ARGS: Record<string, string[]> = {
  mmap: ['addr', 'len', 'prot', 'flags', 'fd', '"off"'],
  munmap: ['addr', 'len'],
  mprotect: ['"start"', 'len', 'prot'],
  madvise: ['"start"', 'len_in', 'behavior'],
  mremap: ['addr', 'old_len', 'new_len', 'flags', 'new_addr'],
  brk: ['brk'],
  clone: ['clone_flags'],
  ioctl: ['fd', 'cmd', 'arg'],
};

/** Events the model uses that carry no fields it reads. */
const UNTYPED = new Set(['sched:sched_process_free']);

export interface InputOptions {
  fromNs?: bigint;
  toNs?: bigint;
  /** The file's kprobe events bound to the roles the model reads (probes.ts): each is replayed under its role's name. */
  probes?: Binding[];
}

/** One query's chunks, the next one already being fetched while this one is used. */
class Cursor {
  chunk: DuckDBDataChunk | null = null;
  row = 0;
  rows = 0;
  private ahead: Promise<DuckDBDataChunk | null> | null;

  constructor(private readonly res: DuckDBResult) {
    this.ahead = this.fetch();
  }

  private fetch(): Promise<DuckDBDataChunk | null> {
    const p = this.res.fetchChunk();
    // Awaited in next(); a query abandoned on an error elsewhere must not fail the process.
    p.catch(() => {});
    return p;
  }

  /** Moves to the next chunk; false at the end. */
  async next(): Promise<boolean> {
    const c = this.ahead ? await this.ahead : null;
    this.row = 0;
    if (!c || c.rowCount === 0) {
      this.ahead = null;
      this.chunk = null;
      this.rows = 0;
      return false;
    }
    this.ahead = this.fetch();
    this.chunk = c;
    this.rows = c.rowCount;
    return true;
  }

  col<T extends DuckDBValue>(i: number): DuckDBVector<T> {
    return this.chunk!.getColumnVector(i) as DuckDBVector<T>;
  }
}

/** A typed table read in id order, positioned on its current row. */
interface Typed {
  cursor: Cursor;
  nums: number;
  done: boolean;
  id: DuckDBVector<bigint> | null;
  slots: DuckDBVector<number>[];
  s: DuckDBVector<string> | null;
}

const num = (v: number | null) => (v === null || v !== v ? null : v);

/**
 * Yields a file's events in (ts_ns, id) order, a batch at a time. The trace's ingest order is its
 * id order, which is time order except where per-CPU buffers were merged out of order: when any
 * timestamp goes backwards, events wait in a heap until no later event can precede them (the
 * worst step back, measured first, bounds how far that is).
 */
export async function* readEvents(
  db: Db,
  fileId: number,
  o: InputOptions,
): AsyncGenerator<ReplayEvent[]> {
  const where = [`file_id = ${fileId}`];
  if (o.fromNs !== undefined) where.push(`ts_ns >= ${o.fromNs}`);
  if (o.toNs !== undefined) where.push(`ts_ns <= ${o.toNs}`);
  const filter = where.join(' AND ');
  const tables = new Set(await db.tables());
  if (!tables.has('_events'))
    throw new Error(
      `${db.path}: made by an older mmreplay (no _events table); ingest the trace again`,
    );
  // `_events` directly, not the `events` view: its joins may emit rows out of insertion order.
  // comm and event come as dictionary codes.
  const [f] = await db.rows<{
    lo: bigint | null;
    hi: bigint | null;
    codes: number[] | null;
    back: bigint;
  }>(
    `SELECT min(id) AS lo, max(id) AS hi, list(DISTINCT event_id) AS codes, count(*) FILTER (step < 0) AS back
     FROM (SELECT id, event_id, ts_ns - lag(ts_ns) OVER () step FROM _events WHERE ${filter})`,
  );
  if (f.lo === null || f.hi === null) return;
  let maxBack = 0n;
  if (f.back > 0n) {
    [{ maxBack }] = await db.rows<{ maxBack: bigint }>(
      `SELECT max(top - ts_ns) maxBack FROM (SELECT ts_ns, max(ts_ns) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) top FROM _events WHERE ${filter})`,
    );
  }
  const eventName = new Map<number, string>();
  for (const r of await db.rows<{ code: number; event: string }>(
    `SELECT event_id AS code, event FROM _event_names`,
  ))
    eventName.set(r.code, r.event);
  const comms: string[] = [];
  for (const r of await db.rows<{ code: number; comm: string }>(
    `SELECT comm_id AS code, comm FROM _comms`,
  ))
    comms[r.code] = r.comm;

  const columns = new Map<string, Set<string>>();
  for (const r of await db.rows<{ t: string; c: string }>(
    `SELECT table_name t, column_name c FROM information_schema.columns`,
  )) {
    if (!columns.has(r.t)) columns.set(r.t, new Set());
    columns.get(r.t)!.add(r.c);
  }
  // A field the trace's format lacks reads as NULL.
  const has = (t: string, expr: string) => {
    const col = /^"?(\w+)"?/.exec(expr)?.[1];
    return !col || columns.get(t)?.has(col) !== false;
  };
  const projection = (t: string): { nums: string[]; s?: string; dict?: true } | null => {
    if (!tables.has(t)) return null;
    const m = /^syscalls_sys_(enter|exit)_(\w+)$/.exec(t);
    if (m) return { nums: m[1] === 'exit' ? ['ret'] : (SYSCALL_ARGS[m[2]] ?? []) };
    const p = Object.entries(PROJECTIONS).find(([ev]) => tableName(ev) === t)?.[1];
    return p
      ? {
          nums: p.nums.map((x) => (has(t, x) ? x : '')),
          s: p.s && has(t, p.s) ? p.s : undefined,
          dict: p.dict,
        }
      : null;
  };
  const bound = new Map((o.probes ?? []).map((b) => [b.event, b]));

  const streams: [DuckDBConnection, Cursor][] = [];
  const open = async (sql: string) => {
    const conn = await db.instance.connect();
    const c = new Cursor(await conn.stream(sql));
    streams.push([conn, c]);
    return c;
  };
  let finished = false;
  try {
    // Per event name: the typed table its fields come from (index into `typed`), -1 for none.
    const names: string[] = [];
    const codes: number[] = [];
    const streamOf: number[] = [];
    const typed: Typed[] = [];
    const byTable = new Map<string, number>();
    for (const code of f.codes ?? []) {
      const traced = eventName.get(code);
      if (traced === undefined) continue;
      const b = bound.get(traced);
      // A bound kprobe is replayed under its role's name, whatever the trace called it.
      const name = b?.role ?? traced;
      const t = b?.table ?? tableName(name);
      const untyped = UNTYPED.has(name) || (b !== undefined && !b.nums.length && !b.s);
      const p = untyped ? null : b ? { nums: b.nums, s: b.s } : projection(t);
      if (!p && !untyped) continue;
      let k = -1;
      if (p) {
        k = byTable.get(t) ?? -1;
        if (k < 0) {
          k = typed.length;
          byTable.set(t, k);
          typed.push(await openTyped(db, open, t, p, f.lo, f.hi));
        }
      }
      // Interned: the adapter's switch and Set lookups on the name then compare by pointer.
      names.push(Object.keys({ [name]: 0 })[0]);
      codes.push(code);
      streamOf.push(k);
    }
    if (!names.length) return;

    // No joins, not even the one DuckDB makes of a long IN list: they may emit rows out of
    // insertion order.
    const code = `CASE event_id ${codes.map((c, i) => `WHEN ${c} THEN ${i}`).join(' ')} END`;
    const sql = `SELECT * FROM (SELECT id, ts_ns, cpu, tid, coalesce(tgid::DOUBLE, 'NaN'::DOUBLE), comm_id, ${code} AS k FROM _events WHERE ${filter}) WHERE k IS NOT NULL`;
    const events = await open(sql);
    const heap = maxBack > 0n ? new EventHeap() : null;
    let top: bigint | null = null;
    let lastId = -1n;
    while (await events.next()) {
      const id = events.col<bigint>(0);
      const ts = events.col<bigint>(1);
      const cpu = events.col<number>(2);
      const tid = events.col<number>(3);
      const tgid = events.col<number>(4);
      const comm = events.col<number>(5);
      const code = events.col<number>(6);
      const out: ReplayEvent[] = [];
      for (let i = 0; i < events.rows; i++) {
        const eid = id.getItem(i)!;
        // The merge relies on scans returning rows in insertion order (preserve_insertion_order).
        if (eid <= lastId)
          throw new Error(
            `replay input: event ids out of insertion order (${eid} after ${lastId})`,
          );
        lastId = eid;
        const k = code.getItem(i)!;
        const e: ReplayEvent = {
          id: eid,
          ts: ts.getItem(i)!,
          cpu: cpu.getItem(i)!,
          tid: tid.getItem(i)!,
          tgid: num(tgid.getItem(i)),
          comm: comms[comm.getItem(i)!],
          event: names[k],
          a: null,
          b: null,
          c: null,
          d: null,
          e: null,
          f: null,
          s: null,
        };
        const si = streamOf[k];
        // An event whose fields did not parse has no typed row, and is not replayed.
        if (si >= 0) {
          let got = fill(typed[si], e);
          while (got < 0) {
            await refill(typed[si]);
            got = fill(typed[si], e);
          }
          if (!got) continue;
        }
        if (!heap) {
          out.push(e);
          continue;
        }
        heap.push(e);
        if (top === null || e.ts > top) top = e.ts;
        while (heap.size && heap.min().ts <= top - maxBack) out.push(heap.pop());
      }
      yield out;
    }
    if (heap) {
      const out: ReplayEvent[] = [];
      while (heap.size) out.push(heap.pop());
      yield out;
    }
    finished = true;
  } finally {
    // A result read to its end (or interrupted) lets go of the database; one left unread keeps it
    // open after close(), its writes not checkpointed.
    for (const [conn, c] of streams) {
      if (!finished) conn.interrupt();
      try {
        while (await c.next());
      } catch {
        // interrupted
      }
      conn.closeSync();
    }
  }
}

/** col as an ENUM of its values (NULL when it has none; as it is where a value holds a NUL byte,
 *  which no ENUM member can). */
function enumOf(col: string, values: (string | null)[] | null): string {
  const v = (values ?? []).filter((x): x is string => x !== null);
  if (v.some((x) => x.includes('\0'))) return col;
  return v.length ? `${col}::ENUM(${v.map(quoteString).join(', ')})` : 'NULL::VARCHAR';
}

async function openTyped(
  db: Db,
  open: (sql: string) => Promise<Cursor>,
  t: string,
  p: { nums: string[]; s?: string; dict?: true },
  lo: bigint,
  hi: bigint,
): Promise<Typed> {
  const rows = `FROM ${quoteIdent(t)} WHERE id BETWEEN ${lo} AND ${hi}`;
  const slots = p.nums.map(
    (x) => `, coalesce(${x ? `TRY_CAST(${x} AS DOUBLE)` : 'NULL'}, 'NaN'::DOUBLE)`,
  );
  let s = '';
  if (p.s && p.dict) {
    const [{ values }] = await db.rows<{ values: string[] | null }>(
      `SELECT list(DISTINCT ${p.s}::VARCHAR) AS "values" ${rows}`,
    );
    s = `, ${enumOf(`${p.s}::VARCHAR`, values)}`;
  } else if (p.s) s = `, ${p.s}::VARCHAR`;
  return {
    cursor: await open(`SELECT id${slots.join('')}${s} ${rows}`),
    nums: p.nums.length,
    done: false,
    id: null,
    slots: [],
    s: null,
  };
}

/** Loads a typed table's next chunk (marks it done at its end). */
async function refill(t: Typed): Promise<void> {
  const c = t.cursor;
  if (!(await c.next())) {
    t.done = true;
    return;
  }
  t.id = c.col<bigint>(0);
  t.slots = [];
  for (let j = 0; j < t.nums; j++) t.slots.push(c.col<number>(1 + j));
  t.s = c.chunk!.columnCount > 1 + t.nums ? c.col<string>(1 + t.nums) : null;
}

/**
 * Moves a typed table to the row of event e and copies its slots into e: 1 when it has one, 0
 * when it has none, -1 when its chunk ran out first (refill, then try again).
 */
function fill(t: Typed, e: ReplayEvent): number {
  const c = t.cursor;
  for (;;) {
    if (c.row === c.rows) return t.done ? 0 : -1;
    const id = t.id!.getItem(c.row)!;
    if (id > e.id) return 0;
    const r = c.row++;
    // A row of an event outside --from/--to.
    if (id < e.id) continue;
    const v = t.slots;
    const n = t.nums;
    if (n > 0) e.a = num(v[0].getItem(r));
    if (n > 1) e.b = num(v[1].getItem(r));
    if (n > 2) e.c = num(v[2].getItem(r));
    if (n > 3) e.d = num(v[3].getItem(r));
    if (n > 4) e.e = num(v[4].getItem(r));
    if (n > 5) e.f = num(v[5].getItem(r));
    if (t.s) e.s = t.s.getItem(r);
    return 1;
  }
}

/** A binary min-heap of events by (ts, id). */
class EventHeap {
  private a: ReplayEvent[] = [];
  get size(): number {
    return this.a.length;
  }
  min(): ReplayEvent {
    return this.a[0];
  }
  private static less(x: ReplayEvent, y: ReplayEvent): boolean {
    return x.ts < y.ts || (x.ts === y.ts && x.id < y.id);
  }
  push(e: ReplayEvent): void {
    const a = this.a;
    let i = a.push(e) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!EventHeap.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): ReplayEvent {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && EventHeap.less(a[l], a[m])) m = l;
        if (r < a.length && EventHeap.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
