// The replay's input read from DuckDB: _events and each typed table in insertion (id) order, each
// on its own connection, merged by id into event batches; events a trace prints out of order are
// put back in place through a window as wide as the trace's worst disorder (staging.ts).
import type { DuckDBConnection, DuckDBInstance, DuckDBVector } from '@duckdb/node-api';
import { Cursor } from './chunk_cursor.js';
import { type EventBatch, type InputPlan, NO_TS, SLOTS } from './input.js';
import { Staging } from './staging.js';

const u32 = (b: ArrayBuffer, at: number, n: number) => new Uint32Array(b, at, 2 * n);
const i32 = (b: ArrayBuffer, at: number, n: number) => new Int32Array(b, at, n);
const i64 = (b: ArrayBuffer, at: number, n: number) => new BigInt64Array(b, at, n);
const f64 = (b: ArrayBuffer, at: number, n: number) => new Float64Array(b, at, n);
const TWO_32 = 2 ** 32;
/** take()'s answers besides a typed table's index. */
const FULL = -2;
const EVENTS = -1;
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
    if (this.stage) this.release(out, cap);
    while (out.n < cap && !this.eof) {
      const need = this.take(out, cap);
      if (need === FULL) break;
      if (need === EVENTS) {
        if (!(await this.nextEventsChunk())) this.eof = true;
      } else await refill(this.typed[need]);
    }
    // The end of the input: whatever waits in the heap comes out, in order.
    if (this.stage && this.eof) this.release(out, cap, true);
    if (out.n === 0 && this.eof) this.finished = true;
  }

  /**
   * Moves the current chunks' events into out until it is full (FULL) or a chunk runs out: that of
   * `_events` (EVENTS) or typed table i (i), whose event is then taken again once it has its next
   * chunk. Synchronous: in an async function, locals that live across an await are kept in its
   * context object, and this loop runs once per event.
   */
  private take(out: EventBatch, cap: number): number {
    const ev = this.events;
    const stage = this.stage;
    while (out.n < cap) {
      if (ev.row === ev.rows) return EVENTS;
      const i = ev.row;
      const eid = this.id[2 * i + 1] * TWO_32 + this.id[2 * i];
      // The merge relies on scans returning rows in insertion order (preserve_insertion_order).
      if (eid <= this.lastId)
        throw new Error(
          `replay input: event ids out of insertion order (${eid} after ${this.lastId})`,
        );
      const code = valid(this.codeValid, i) ? this.code[i] : -1;
      const k = code >= 0 && code < this.kOf.length ? this.kOf[code] : -1;
      if (k < 0) {
        ev.row = i + 1;
        this.lastId = eid;
        continue;
      }
      const dst = stage ? stage.b : out;
      const j = stage ? stage.slot() : out.n;
      const o = SLOTS * j;
      const slots = dst.slots;
      let s: string | null = null;
      // The slots past the event's fields are NaN (stores, not fill(): a builtin call per event
      // cost more).
      let blank = o;
      const si = this.plan.streamOf[k];
      // An event whose fields did not parse has no typed row, and is not replayed.
      if (si >= 0) {
        const t = this.typed[si];
        const got = fill(t, eid, slots, o);
        if (got !== 1) {
          if (stage) stage.release(j);
          if (got < 0) return si;
          ev.row = i + 1;
          this.lastId = eid;
          continue;
        }
        s = t.s ? t.s.getItem(t.cursor.row - 1) : null;
        blank += Math.min(t.nums, SLOTS);
      }
      for (let x = blank; x < o + SLOTS; x++) slots[x] = NaN;
      ev.row = i + 1;
      this.lastId = eid;
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
    return FULL;
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
    const n = Math.min(t.nums, SLOTS);
    for (let j = 0; j < n; j++) slots[o + j] = t.slots[j][r];
    return 1;
  }
}
