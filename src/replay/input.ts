// The replay's input: every event the model uses, in time order, with its fields in numeric slots.
// Nothing sorts the trace: `_events` and each typed table are read in insertion (id) order, each on
// its own connection, and merged by id here; events a trace prints out of order are put back in
// place through a window as wide as the trace's worst disorder.
import duckdb from '@duckdb/node-bindings';
import type {
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBResult,
  DuckDBValue,
  DuckDBVector,
} from '@duckdb/node-api';
import { quoteIdent, quoteString, type Db } from '../store/db.js';
import { tableName } from '../parse/fields.js';
import { fieldsOf } from './fields.js';
import type { Binding } from './probes.js';

/** Events the model uses that carry no fields it reads. */
const UNTYPED = new Set(['sched:sched_process_free']);

export interface InputOptions {
  fromNs?: bigint;
  toNs?: bigint;
  /** The file's kprobe events bound to the roles the model reads (probes.ts): each is replayed under its role's name. */
  probes?: Binding[];
}

/**
 * A file's input as planned where the database is first open (the main thread): the queries the
 * reading thread runs, and the dictionaries its codes index. Structured-cloneable.
 */
export interface InputPlan {
  /** `_events` in insertion order: id, ts_ns, cpu, tid, tgid, comm code, event code. */
  events: string;
  /** Per event code (_event_names): its name code (index into names), -1 for an event not replayed. */
  kOf: number[];
  /** Per typed table: its query (id, `nums` slots, then the string slot when `s`). */
  typed: { sql: string; nums: number; s: boolean }[];
  /** Per name code: the name the model knows the event by, and its typed table (-1: none). */
  names: string[];
  streamOf: number[];
  /** comm by _comms code. */
  comms: string[];
  /** How far timestamps step back at worst (0: the trace is in time order). */
  maxBack: bigint;
  /** Events in the file (or its --from/--to window), before those the model does not use. */
  count: number;
}

/** ts_ns NULL, as it is read. */
export const NO_TS = -(2n ** 63n);

/**
 * Plans the replay input of a file: its events in (ts_ns, id) order, each with up to six numeric
 * slots and a string. null when the file has no event in the window.
 */
export async function planInput(
  db: Db,
  fileId: number,
  o: InputOptions,
): Promise<InputPlan | null> {
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
    n: bigint;
  }>(
    `SELECT min(id) AS lo, max(id) AS hi, list(DISTINCT event_id) AS codes, count(*) FILTER (step < 0) AS back, count(*) AS n
     FROM (SELECT id, event_id, ts_ns - lag(ts_ns) OVER () step FROM _events WHERE ${filter})`,
  );
  if (f.lo === null || f.hi === null) return null;
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
  const projection = (
    name: string,
    t: string,
  ): { nums: string[]; s?: string; dict?: true } | null => {
    const p = fieldsOf(name);
    if (!tables.has(t) || !p) return null;
    const s = p.sSql !== null && has(t, p.sSql) ? p.sSql : undefined;
    return { nums: p.sql.map((x) => (has(t, x) ? x : '')), s, dict: p.dict || undefined };
  };
  const bound = new Map((o.probes ?? []).map((b) => [b.event, b]));

  // Per event name: the typed table its fields come from (index into `typed`), -1 for none.
  const names: string[] = [];
  const codes: number[] = [];
  const streamOf: number[] = [];
  const typed: InputPlan['typed'] = [];
  const byTable = new Map<string, number>();
  for (const code of f.codes ?? []) {
    const traced = eventName.get(code);
    if (traced === undefined) continue;
    const b = bound.get(traced);
    // A bound kprobe is replayed under its role's name, whatever the trace called it.
    const name = b?.role ?? traced;
    const t = b?.table ?? tableName(name);
    const untyped = UNTYPED.has(name) || (b !== undefined && !b.nums.length && !b.s);
    const p = untyped ? null : b ? { nums: b.nums, s: b.s } : projection(name, t);
    if (!p && !untyped) continue;
    let k = -1;
    if (p) {
      k = byTable.get(t) ?? -1;
      if (k < 0) {
        k = typed.length;
        byTable.set(t, k);
        typed.push(await typedQuery(db, t, p, f.lo, f.hi));
      }
    }
    // Interned: the adapter's switch and Set lookups on the name then compare by pointer.
    names.push(Object.keys({ [name]: 0 })[0]);
    codes.push(code);
    streamOf.push(k);
  }
  if (!names.length) return null;
  // The events the model does not use are left out as they are read (an IN list or a CASE in SQL
  // costs DuckDB more than the rows it saves; a join may emit rows out of insertion order).
  const kOf: number[] = [];
  for (let c = 0; c <= Math.max(...codes); c++) kOf.push(codes.indexOf(c));
  const events = `SELECT id::BIGINT, ts_ns::BIGINT, cpu::INTEGER, tid::INTEGER, tgid::INTEGER, comm_id::INTEGER, event_id::INTEGER FROM _events WHERE ${filter}`;
  return { events, kOf, typed, names, streamOf, comms, maxBack, count: Number(f.n) };
}

/** col as an ENUM of its values (NULL when it has none; as it is where a value holds a NUL byte,
 *  which no ENUM member can). */
function enumOf(col: string, values: (string | null)[] | null): string {
  const v = (values ?? []).filter((x): x is string => x !== null);
  if (v.some((x) => x.includes('\0'))) return col;
  return v.length ? `${col}::ENUM(${v.map(quoteString).join(', ')})` : 'NULL::VARCHAR';
}

async function typedQuery(
  db: Db,
  t: string,
  p: { nums: string[]; s?: string; dict?: true },
  lo: bigint,
  hi: bigint,
): Promise<InputPlan['typed'][number]> {
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
  return { sql: `SELECT id${slots.join('')}${s} ${rows}`, nums: p.nums.length, s: s !== '' };
}

/** Numeric slots per event: the most fields any event has (mmap's six arguments). */
export const SLOTS = 6;

/** Events per batch of input. */
export const EVENT_BATCH = 32768;

/**
 * Events column-wise, as they cross from the reading thread to the model's: name and comm as codes
 * into the plan's dictionaries, the string slot as a code into `strs` (-1: NULL), NULL numbers as
 * NaN. Every array but `strs` is transferable.
 */
export interface EventBatch {
  n: number;
  id: BigInt64Array;
  ts: BigInt64Array;
  /** id and ts as (low, high) 32-bit words: the same memory. */
  idw: Int32Array;
  tsw: Int32Array;
  cpu: Float64Array;
  tid: Float64Array;
  tgid: Float64Array;
  comm: Int32Array;
  k: Int32Array;
  /** SLOTS per event: its numeric fields in the order fields.ts names them. */
  slots: Float64Array;
  s: Int32Array;
  strs: string[];
}

export function eventBatch(capacity = EVENT_BATCH): EventBatch {
  const id = new BigInt64Array(capacity);
  const ts = new BigInt64Array(capacity);
  return {
    n: 0,
    id,
    ts,
    idw: new Int32Array(id.buffer),
    tsw: new Int32Array(ts.buffer),
    cpu: new Float64Array(capacity),
    tid: new Float64Array(capacity),
    tgid: new Float64Array(capacity),
    comm: new Int32Array(capacity),
    k: new Int32Array(capacity),
    slots: new Float64Array(SLOTS * capacity),
    s: new Int32Array(capacity),
    strs: [],
  };
}

export function batchBuffers(b: EventBatch): ArrayBuffer[] {
  return [b.id, b.ts, b.cpu, b.tid, b.tgid, b.comm, b.k, b.slots, b.s].map(
    (a) => a.buffer as ArrayBuffer,
  );
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

  /** Column i's validity bits (null when no row of the chunk is NULL). */
  validity(i: number): Uint8Array | null {
    const v = duckdb.data_chunk_get_vector(this.chunk!.chunk, i);
    return duckdb.vector_get_validity(v, Math.ceil(this.rows / 64) * 8) || null;
  }

  col<T extends DuckDBValue>(i: number): DuckDBVector<T> {
    return this.chunk!.getColumnVector(i) as DuckDBVector<T>;
  }

  /** Column i's values in place, as a typed array of n elements of `bytes` bytes each. */
  raw<T>(i: number, bytes: number, make: (b: ArrayBuffer, at: number, n: number) => T): T {
    const v = duckdb.data_chunk_get_vector(this.chunk!.chunk, i);
    let u8 = duckdb.vector_get_data(v, this.rows * bytes);
    if (u8.byteOffset % 8 !== 0) u8 = u8.slice();
    return make(u8.buffer as ArrayBuffer, u8.byteOffset, this.rows);
  }
}

const u32 = (b: ArrayBuffer, at: number, n: number) => new Uint32Array(b, at, 2 * n);
const i32 = (b: ArrayBuffer, at: number, n: number) => new Int32Array(b, at, n);
const i64 = (b: ArrayBuffer, at: number, n: number) => new BigInt64Array(b, at, n);
const f64 = (b: ArrayBuffer, at: number, n: number) => new Float64Array(b, at, n);
const TWO_32 = 2 ** 32;
const valid = (mask: Uint8Array | null, r: number) =>
  !mask || ((mask[r >> 3] >> (r & 7)) & 1) === 1;

/** A typed table read in id order, positioned on its current row. */
interface Typed {
  cursor: Cursor;
  nums: number;
  done: boolean;
  /** ids as (low, high) 32-bit words. */
  id: Uint32Array;
  slots: Float64Array[];
  s: DuckDBVector<string> | null;
}

/**
 * Events staged while the trace's disorder may still put an earlier one before them: a min-heap
 * of slots by (ts, id), each slot's fields in growable columns (no object per event).
 */
class Staging {
  b = eventBatch(1024);
  str: (string | null)[] = [];
  private free: number[] = [];
  private heap: number[] = [];
  private used = 0;

  get size(): number {
    return this.heap.length;
  }

  /** A slot to write an event into (push it when written). */
  slot(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.used === this.b.id.length) this.grow();
    return this.used++;
  }

  private grow(): void {
    const old = this.b;
    const n = 2 * old.id.length;
    const b = eventBatch(n);
    b.id.set(old.id);
    b.ts.set(old.ts);
    b.cpu.set(old.cpu);
    b.tid.set(old.tid);
    b.tgid.set(old.tgid);
    b.comm.set(old.comm);
    b.k.set(old.k);
    b.slots.set(old.slots);
    b.s.set(old.s);
    this.b = b;
  }

  /** Whether slot i comes before slot j: (ts, id) compared exactly, word by word. */
  private less(i: number, j: number): boolean {
    const t = this.b.tsw;
    if (t[2 * i + 1] !== t[2 * j + 1]) return t[2 * i + 1] < t[2 * j + 1];
    if (t[2 * i] !== t[2 * j]) return t[2 * i] >>> 0 < t[2 * j] >>> 0;
    const d = this.b.idw;
    if (d[2 * i + 1] !== d[2 * j + 1]) return d[2 * i + 1] < d[2 * j + 1];
    return d[2 * i] >>> 0 < d[2 * j] >>> 0;
  }

  push(j: number): void {
    const a = this.heap;
    let i = a.push(j) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  min(): number {
    return this.heap[0];
  }

  /** Takes the first slot off the heap; the caller copies it out, then frees it. */
  pop(): number {
    const a = this.heap;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }

  release(j: number): void {
    this.str[j] = null;
    this.free.push(j);
  }
}

/**
 * Reads a planned input from the database, on whichever thread holds it, into event batches.
 * Nothing sorts the trace: `_events` and each typed table are read in insertion (id) order, each
 * on its own connection, and merged by id; events a trace prints out of order are put back in
 * place through a window as wide as the trace's worst disorder (plan.maxBack).
 */
export class EventReader {
  private streams: [DuckDBConnection, Cursor][] = [];
  private events!: Cursor;
  private typed: Typed[] = [];
  private stage: Staging | null;
  /** The latest timestamp read so far, as (low, high) words (heap mode). */
  private top: bigint | null = null;
  private lastId = -1;
  private eof = false;
  private finished = false;
  // The current _events chunk's columns (id and ts as 32-bit words).
  private id = new Uint32Array(0);
  private ts = new BigInt64Array(0);
  private idw = new Int32Array(0);
  private tsw = new Int32Array(0);
  private cpu = new Int32Array(0);
  private tid = new Int32Array(0);
  private tgid = new Int32Array(0);
  private comm = new Int32Array(0);
  private code = new Int32Array(0);
  /** Validity masks of the nullable columns (null: no NULL in the chunk). */
  private tsValid: Uint8Array | null = null;
  private cpuValid: Uint8Array | null = null;
  private tidValid: Uint8Array | null = null;
  private tgidValid: Uint8Array | null = null;
  private commValid: Uint8Array | null = null;
  private codeValid: Uint8Array | null = null;
  private readonly kOf: Int32Array;
  private strCodes = new Map<string, number>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly plan: InputPlan,
  ) {
    this.stage = plan.maxBack > 0n ? new Staging() : null;
    this.kOf = Int32Array.from(plan.kOf);
  }

  static async open(instance: DuckDBInstance, plan: InputPlan): Promise<EventReader> {
    const r = new EventReader(instance, plan);
    for (const t of plan.typed)
      r.typed.push({
        cursor: await r.query(t.sql),
        nums: t.nums,
        done: false,
        id: new Uint32Array(0),
        slots: [],
        s: null,
      });
    r.events = await r.query(plan.events);
    return r;
  }

  private async query(sql: string): Promise<Cursor> {
    const conn = await this.instance.connect();
    const c = new Cursor(await conn.stream(sql));
    this.streams.push([conn, c]);
    return c;
  }

  private async nextEventsChunk(): Promise<boolean> {
    const c = this.events;
    if (!(await c.next())) return false;
    this.id = c.raw(0, 8, u32);
    this.idw = new Int32Array(this.id.buffer, this.id.byteOffset, 2 * c.rows);
    this.ts = c.raw(1, 8, i64);
    this.tsw = new Int32Array(this.ts.buffer, this.ts.byteOffset, 2 * c.rows);
    this.cpu = c.raw(2, 4, i32);
    this.tid = c.raw(3, 4, i32);
    this.tgid = c.raw(4, 4, i32);
    this.comm = c.raw(5, 4, i32);
    this.code = c.raw(6, 4, i32);
    this.tsValid = c.validity(1);
    this.cpuValid = c.validity(2);
    this.tidValid = c.validity(3);
    this.tgidValid = c.validity(4);
    this.commValid = c.validity(5);
    this.codeValid = c.validity(6);
    return true;
  }

  /** Fills `out` with the next events (n = 0 at the end of the input). */
  async next(out: EventBatch): Promise<void> {
    out.n = 0;
    out.strs.length = 0;
    this.strCodes.clear();
    const cap = out.id.length;
    const stage = this.stage;
    if (stage) this.release(out, cap);
    const ev = this.events;
    while (out.n < cap && !this.eof) {
      if (ev.row === ev.rows && !(await this.nextEventsChunk())) {
        this.eof = true;
        break;
      }
      const i = ev.row++;
      const eid = this.id[2 * i + 1] * TWO_32 + this.id[2 * i];
      // The merge relies on scans returning rows in insertion order (preserve_insertion_order).
      if (eid <= this.lastId)
        throw new Error(
          `replay input: event ids out of insertion order (${eid} after ${this.lastId})`,
        );
      this.lastId = eid;
      if (!valid(this.codeValid, i)) continue;
      const code = this.code[i];
      const k = code < this.kOf.length ? this.kOf[code] : -1;
      if (k < 0) continue;
      const dst = stage ? stage.b : out;
      const j = stage ? stage.slot() : out.n;
      const o = SLOTS * j;
      dst.slots.fill(NaN, o, o + SLOTS);
      let s: string | null = null;
      const si = this.plan.streamOf[k];
      // An event whose fields did not parse has no typed row, and is not replayed.
      if (si >= 0) {
        const t = this.typed[si];
        let got = fill(t, eid, dst.slots, o);
        while (got < 0) {
          await refill(t);
          got = fill(t, eid, dst.slots, o);
        }
        if (!got) {
          if (stage) stage.release(j);
          continue;
        }
        s = t.s ? t.s.getItem(t.cursor.row - 1) : null;
      }
      dst.idw[2 * j] = this.idw[2 * i];
      dst.idw[2 * j + 1] = this.idw[2 * i + 1];
      if (valid(this.tsValid, i)) {
        dst.tsw[2 * j] = this.tsw[2 * i];
        dst.tsw[2 * j + 1] = this.tsw[2 * i + 1];
      } else dst.ts[j] = NO_TS;
      dst.cpu[j] = valid(this.cpuValid, i) ? this.cpu[i] : NaN;
      dst.tid[j] = valid(this.tidValid, i) ? this.tid[i] : NaN;
      dst.tgid[j] = valid(this.tgidValid, i) ? this.tgid[i] : NaN;
      dst.comm[j] = valid(this.commValid, i) ? this.comm[i] : -1;
      dst.k[j] = k;
      if (!stage) {
        out.s[j] = s === null ? -1 : this.intern(out, s);
        out.n++;
        continue;
      }
      stage.str[j] = s;
      stage.push(j);
      const ts = this.ts[i];
      if (this.top === null || ts > this.top) this.top = ts;
      this.release(out, cap);
    }
    // The end of the input: whatever waits in the heap comes out, in order.
    if (stage && this.eof) this.release(out, cap, true);
    if (out.n === 0 && this.eof) this.finished = true;
  }

  /** Moves staged events that no later one can precede (all, at the end) into out. */
  private release(out: EventBatch, cap: number, all = false): void {
    const stage = this.stage!;
    const b = stage.b;
    const bound = this.top === null ? null : this.top - this.plan.maxBack;
    while (out.n < cap && stage.size) {
      const j = stage.min();
      if (!all && (bound === null || b.ts[j] > bound)) break;
      stage.pop();
      const n = out.n++;
      out.idw[2 * n] = b.idw[2 * j];
      out.idw[2 * n + 1] = b.idw[2 * j + 1];
      out.tsw[2 * n] = b.tsw[2 * j];
      out.tsw[2 * n + 1] = b.tsw[2 * j + 1];
      out.cpu[n] = b.cpu[j];
      out.tid[n] = b.tid[j];
      out.tgid[n] = b.tgid[j];
      out.comm[n] = b.comm[j];
      out.k[n] = b.k[j];
      out.slots.set(b.slots.subarray(SLOTS * j, SLOTS * j + SLOTS), SLOTS * n);
      const s = stage.str[j];
      out.s[n] = s === null ? -1 : this.intern(out, s);
      stage.release(j);
    }
  }

  private intern(out: EventBatch, s: string): number {
    let c = this.strCodes.get(s);
    if (c === undefined) {
      c = out.strs.push(s) - 1;
      this.strCodes.set(s, c);
    }
    return c;
  }

  /**
   * Lets go of the database: a result read to its end (or interrupted) lets go of it; one left
   * unread keeps it open after close(), its writes not checkpointed.
   */
  async close(): Promise<void> {
    for (const [conn, c] of this.streams) {
      if (!this.finished) conn.interrupt();
      try {
        while (await c.next());
      } catch {
        // interrupted
      }
      conn.closeSync();
    }
    this.streams = [];
  }
}

/** Loads a typed table's next chunk (marks it done at its end). */
async function refill(t: Typed): Promise<void> {
  const c = t.cursor;
  if (!(await c.next())) {
    t.done = true;
    return;
  }
  t.id = c.raw(0, 8, u32);
  t.slots = [];
  for (let j = 0; j < t.nums; j++) t.slots.push(c.raw(1 + j, 8, f64));
  t.s = c.chunk!.columnCount > 1 + t.nums ? c.col<string>(1 + t.nums) : null;
}

/**
 * Moves a typed table to the row of event `eid` and copies its slots into slots[o..]: 1 when it
 * has one, 0 when it has none, -1 when its chunk ran out first (refill, then try again).
 */
function fill(t: Typed, eid: number, slots: Float64Array, o: number): number {
  const c = t.cursor;
  for (;;) {
    if (c.row === c.rows) return t.done ? 0 : -1;
    const id = t.id[2 * c.row + 1] * TWO_32 + t.id[2 * c.row];
    if (id > eid) return 0;
    const r = c.row++;
    // A row of an event outside --from/--to.
    if (id < eid) continue;
    for (let j = 0; j < t.nums && j < SLOTS; j++) slots[o + j] = t.slots[j][r];
    return 1;
  }
}
