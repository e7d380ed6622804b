// The replay's input: which events the model uses and the queries that read their fields
// (planInput), and the column batches they cross threads in (EventBatch); event_reader.ts reads
// them.
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
  /** Read tlb:tlb_flush, the walk's clock where no probe shows it (make_device_exclusive_range.ts walkFlushed). */
  walkClock?: boolean;
  /** The file's scanInput, started earlier (else planInput starts it). */
  scan?: Promise<InputScan | null>;
}

/** What one pass over a file's events in the window finds (scanInput). */
export interface InputScan {
  lo: bigint;
  hi: bigint;
  codes: number[];
  maxBack: bigint;
  count: number;
}

/**
 * The first pass over a file's `_events` that planInput needs: its ids, event codes, count and how
 * far its times step back. It reads every event (55-100 ms on 10 M), on connections of its own,
 * so it can start before the probes are bound and run beside their queries. null: no event.
 */
export async function scanInput(
  db: Db,
  fileId: number,
  o: Pick<InputOptions, 'fromNs' | 'toNs'>,
): Promise<InputScan | null> {
  const filter = windowFilter(fileId, o);
  // Every query here on the connection of its own: the probes' binding uses the Db's meanwhile.
  const [{ n: made }] = await db.rowsAside<{ n: bigint }>(
    `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'main' AND table_name = '_events'`,
  );
  if (!made)
    throw new Error(
      `${db.path}: made by an older mmreplay (no _events table); ingest the trace again`,
    );
  // `_events` directly, not the `events` view: its joins may emit rows out of insertion order. Three
  // queries side by side: the bounds come from the table's statistics, the codes from a parallel
  // aggregate, and only the steps back need a pass in order (together: 150-230 ms, apart: 55).
  const [[f], [c], [b]] = await Promise.all([
    db.rowsAside<{ lo: bigint | null; hi: bigint | null; n: bigint }>(
      `SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM _events WHERE ${filter}`,
    ),
    db.rowsAside<{ codes: number[] | null }>(
      `SELECT list(event_id ORDER BY event_id) AS codes FROM (SELECT DISTINCT event_id FROM _events WHERE ${filter})`,
    ),
    db.rowsAside<{ back: bigint }>(
      `SELECT count(*) FILTER (step < 0) AS back FROM (SELECT ts_ns - lag(ts_ns) OVER () step FROM _events WHERE ${filter})`,
    ),
  ]);
  if (f.lo === null || f.hi === null) return null;
  let maxBack = 0n;
  if (b.back > 0n) {
    [{ maxBack }] = await db.rowsAside<{ maxBack: bigint }>(
      `SELECT max(top - ts_ns) maxBack FROM (SELECT ts_ns, max(ts_ns) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) top FROM _events WHERE ${filter})`,
    );
  }
  return { lo: f.lo, hi: f.hi, codes: c.codes ?? [], maxBack, count: Number(f.n) };
}

function windowFilter(fileId: number, o: Pick<InputOptions, 'fromNs' | 'toNs'>): string {
  const where = [`file_id = ${fileId}`];
  if (o.fromNs !== undefined) where.push(`ts_ns >= ${o.fromNs}`);
  if (o.toNs !== undefined) where.push(`ts_ns <= ${o.toNs}`);
  return where.join(' AND ');
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
 * Plans the replay input of a file: its events in (ts_ns, id) order, each with its fields (fields.ts)
 * in up to SLOTS numeric slots and a string. null when the file has no event in the window.
 */
export async function planInput(
  db: Db,
  fileId: number,
  o: InputOptions,
): Promise<InputPlan | null> {
  const f = await (o.scan ?? scanInput(db, fileId, o));
  if (!f) return null;
  const filter = windowFilter(fileId, o);
  const tables = new Set(await db.tables());
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

  const columns = await db.columns();
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
  for (const code of f.codes) {
    const traced = eventName.get(code);
    if (traced === undefined) continue;
    if (traced === 'tlb:tlb_flush' && !o.walkClock) continue;
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
  return { events, kOf, typed, names, streamOf, comms, maxBack: f.maxBack, count: f.count };
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
