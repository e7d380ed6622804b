// The replay's traffic with DuckDB while events stream through the model: events in (input.ts
// EventReader), rows out (column-batch.ts). `InlineIo` does both on the model's thread;
// `WorkerIo` on a worker thread (replay-io-worker.ts) that holds the database meanwhile, so that
// DuckDB's scans and appends run on the second core while the model runs on the first. Either way
// the same batches cross, in the same order: the tables come out the same.
import type { Worker } from 'node:worker_threads';
import type { Db } from '../store/db.js';
import { startWorker } from '../worker-thread.js';
import { BatchAppender, layoutOf } from '../store/batch-appender.js';
import {
  ColumnBatch,
  transferables,
  type BatchData,
  type TableLayout,
} from '../store/column-batch.js';
import { COLUMNS, type Table } from './columns.js';
import { batchBuffers, eventBatch, type EventBatch, type InputPlan } from './input.js';
import { EventReader } from './event_reader.js';
import type { GupPlan } from './exclusive/gup_plan.js';
import { GupPlanner, type AnchorPlan } from './gup-plans.js';

/** DuckDB's memory limit while the events stream (see replay.ts). */
export const STREAM_MEMORY_LIMIT = '64MB';

export interface ReplayIo {
  /** One ColumnBatch per replay table: the model's rows go there. */
  readonly tables: Record<Table, ColumnBatch>;
  /** The next events (n = 0 at the end); the batch is valid until the next call. */
  next(): Promise<EventBatch>;
  /** The plans of the GUPs that begin in the batch last returned (gup-plans.ts). */
  readonly plans: Map<number, GupPlan>;
  /** Waits while the rows handed over are far ahead of their appends (call between batches). */
  drain(): Promise<void>;
  /** Appends the last rows and lets go of the input; the database is the caller's again. */
  close(): Promise<void>;
  /** After an error: stops, and gives the database back (rows may be lost). */
  abort(): Promise<void>;
}

/** The column layout of every replay table, from its appender. */
async function tableLayouts(db: Db): Promise<Record<Table, TableLayout>> {
  const out = {} as Record<Table, TableLayout>;
  for (const t of Object.keys(COLUMNS) as Table[]) {
    const a = await db.conn.createAppender(t);
    out[t] = layoutOf(a);
    a.closeSync();
  }
  return out;
}

/** Input and appends on the calling thread (an in-memory database, short traces). */
export class InlineIo implements ReplayIo {
  readonly tables = {} as Record<Table, ColumnBatch>;
  plans = new Map<number, GupPlan>();
  private appenders: BatchAppender[] = [];
  private batch = eventBatch();
  private first = true;

  private constructor(
    private readonly db: Db,
    private readonly reader: EventReader | null,
    private readonly planner: GupPlanner | null,
  ) {}

  /** plan null: a file without events (rows may still be written). */
  static async open(db: Db, plan: InputPlan | null, anchors: AnchorPlan | null): Promise<InlineIo> {
    const io = new InlineIo(
      db,
      plan && (await EventReader.open(db.instance, plan)),
      plan && anchors && (await GupPlanner.open(db.instance, anchors)),
    );
    for (const t of Object.keys(COLUMNS) as Table[]) {
      const a = new BatchAppender(await db.conn.createAppender(t));
      io.appenders.push(a);
      const b: ColumnBatch = new ColumnBatch(a.layout, (rows) => {
        a.append(rows);
        b.recycle(rows.values);
      });
      io.tables[t] = b;
    }
    return io;
  }

  async next(): Promise<EventBatch> {
    const b = this.batch;
    if (this.reader) await this.reader.next(b);
    else b.n = 0;
    if (this.planner && b.n) this.plans = await this.planner.through(b);
    if (this.first) {
      // The input's own queries have run; from here DuckDB scans and appends. The output tables'
      // blocks, once written, are dropped from the buffer pool instead of cached, which would
      // grow it with the trace.
      this.first = false;
      await this.db.run(`SET memory_limit = '${STREAM_MEMORY_LIMIT}'`);
    }
    return this.batch;
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    for (const b of Object.values(this.tables)) b.flush();
    for (const a of this.appenders) a.close();
    await this.reader?.close();
    await this.planner?.close();
  }

  async abort(): Promise<void> {
    for (const a of this.appenders) {
      try {
        a.close();
      } catch {
        // the error being reported comes first
      }
    }
    await this.reader?.close();
    await this.planner?.close();
  }
}

/** What the worker is given. */
export interface IoWorkerData {
  file: string;
  plan: InputPlan;
  anchors: AnchorPlan | null;
  /** SQL run on opening (the replay's settings). */
  setup: string;
  tables: Table[];
  /** Event batches read ahead. */
  ahead: number;
}

/** Worker to model thread. */
export type FromIo =
  | { t: 'events'; batch: EventBatch; plans: Map<number, GupPlan> }
  | { t: 'recycle'; table: Table; values: ArrayBuffer[] }
  | { t: 'closed' }
  | { t: 'error'; message: string; stack?: string };

/** Model thread to worker. */
export type ToIo =
  | { t: 'start'; data: IoWorkerData }
  | { t: 'ack'; batch: EventBatch }
  | { t: 'rows'; table: Table; rows: BatchData }
  | { t: 'close' }
  | { t: 'abort' };

/**
 * Event batches the worker reads ahead: enough that the model rarely waits while the worker
 * appends a burst of rows (on the bench at load 4, the model waited 1.7-1.9 s for input with 3,
 * 0.8-1.2 s with 5; 8 waited no less and held 30-50 MB more).
 */
const AHEAD = 5;

/** Output batches handed over and not yet appended, at most (then the model waits). */
const MAX_IN_FLIGHT = 8;

/**
 * Input and appends on a worker thread, which opens the database file while this thread has it
 * suspended (DuckDB objects cannot cross threads, and two instances must not share a file).
 */
export class WorkerIo implements ReplayIo {
  readonly tables = {} as Record<Table, ColumnBatch>;
  plans = new Map<number, GupPlan>();
  private events: { batch: EventBatch; plans: Map<number, GupPlan> }[] = [];
  private current: EventBatch | null = null;
  private inFlight = 0;
  private failure: Error | null = null;
  private closed = false;
  /** Resolved (and cleared) whenever a message arrives. */
  private wake: (() => void) | null = null;

  private constructor(
    private readonly db: Db,
    private readonly worker: Worker,
  ) {
    worker.on('message', (m: FromIo) => this.receive(m));
    worker.on('error', (e) => {
      this.failure ??= e;
      this.notify();
    });
    worker.on('exit', () => {
      if (!this.closed) this.failure ??= new Error('replay: the input/output worker exited');
      this.closed = true;
      this.notify();
    });
  }

  /**
   * Starts a worker before the input is planned: loading its modules (a few hundred ms) overlaps
   * the planning queries. Give it to open(), or terminate() it if the file is read inline.
   */
  static prestart(): Worker {
    return startWorker(new URL('./replay-io-worker.js', import.meta.url), null);
  }

  /** Hands the database over to a worker (`started`, else a new one); the caller's Db is suspended until close/abort. */
  static async open(
    db: Db,
    file: string,
    plan: InputPlan,
    anchors: AnchorPlan | null,
    setup: string,
    started: Worker = WorkerIo.prestart(),
  ): Promise<WorkerIo> {
    const layouts = await tableLayouts(db);
    db.suspend();
    let io: WorkerIo;
    try {
      const tables = Object.keys(COLUMNS) as Table[];
      io = new WorkerIo(db, started);
      const data: IoWorkerData = { file, plan, anchors, setup, tables, ahead: AHEAD };
      started.postMessage({ t: 'start', data } satisfies ToIo);
      for (const t of tables)
        io.tables[t] = new ColumnBatch(layouts[t], (rows) => io.send(t, rows));
    } catch (e) {
      await started.terminate();
      await db.resume();
      throw e;
    }
    return io;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private until(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private receive(m: FromIo): void {
    switch (m.t) {
      case 'events':
        this.events.push({ batch: m.batch, plans: m.plans });
        break;
      case 'recycle':
        this.inFlight--;
        this.tables[m.table].recycle(m.values);
        break;
      case 'closed':
        this.closed = true;
        break;
      case 'error': {
        const e = new Error(m.message);
        if (m.stack) e.stack = m.stack;
        this.failure ??= e;
        break;
      }
    }
    this.notify();
  }

  stats = { waitNext: 0, waitDrain: 0, postRows: 0, postAck: 0, rowsMsgs: 0 };
  private send(table: Table, rows: BatchData): void {
    this.inFlight++;
    const t0 = performance.now();
    this.worker.postMessage({ t: 'rows', table, rows } satisfies ToIo, transferables(rows));
    this.stats.postRows += performance.now() - t0;
    this.stats.rowsMsgs++;
  }

  async next(): Promise<EventBatch> {
    if (this.current) {
      const batch = this.current;
      this.current = null;
      const t0 = performance.now();
      this.worker.postMessage({ t: 'ack', batch } satisfies ToIo, batchBuffers(batch));
      this.stats.postAck += performance.now() - t0;
    }
    const t1 = performance.now();
    while (!this.events.length) {
      if (this.failure) throw this.failure;
      if (this.closed) throw new Error('replay: the input/output worker stopped');
      await this.until();
    }
    this.stats.waitNext += performance.now() - t1;
    const { batch, plans } = this.events.shift()!;
    this.plans = plans;
    this.current = batch;
    return batch;
  }

  async drain(): Promise<void> {
    const t1 = performance.now();
    while (this.inFlight > MAX_IN_FLIGHT) {
      if (this.failure) throw this.failure;
      await this.until();
    }
    this.stats.waitDrain += performance.now() - t1;
  }

  private async finish(msg: ToIo): Promise<void> {
    if (!this.closed) this.worker.postMessage(msg);
    while (!this.closed) await this.until();
    await this.worker.terminate();
    await this.db.resume();
  }

  async close(): Promise<void> {
    for (const b of Object.values(this.tables)) b.flush();
    const t1 = performance.now();
    await this.finish({ t: 'close' });
    if (process.env.MMREPLAY_IO_STATS)
      console.error(JSON.stringify({ ...this.stats, close: performance.now() - t1 }));
    if (this.failure) throw this.failure;
  }

  async abort(): Promise<void> {
    await this.finish({ t: 'abort' });
  }
}
