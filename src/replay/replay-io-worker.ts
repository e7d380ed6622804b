// The replay's input/output thread (replay-io.ts WorkerIo): holds the database while the events
// stream, reads them a few batches ahead of the model, and appends the rows it is handed. Reading
// comes first: rows wait in a queue while a batch the model gave back can be filled (an appender
// that hands a row group to the table takes 30-80 ms, which had left the model waiting).
import { parentPort } from 'node:worker_threads';
import { DuckDBInstance } from '@duckdb/node-api';
import { BatchAppender } from '../store/batch-appender.js';
import type { Table } from './columns.js';
import type { BatchData } from '../store/column-batch.js';
import { batchBuffers, eventBatch, type EventBatch } from './input.js';
import { GupPlanner } from './gup-plans.js';
import { STREAM_MEMORY_LIMIT, type FromIo, type IoWorkerData, type ToIo } from './replay-io.js';
import { EventReader } from './event_reader.js';

const port = parentPort!;
const post = (m: FromIo, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** What to read and where, sent once the model's thread has planned the input (WorkerIo.open). */
let start: IoWorkerData | null = null;
const appenders = new Map<Table, BatchAppender>();
let reader: EventReader | null = null;
let planner: GupPlanner | null = null;
/** Event batches back from the model, to fill again. */
const free: EventBatch[] = [];
/** Rows handed over and not yet appended, in the order they came (at most replay-io.ts
 *  MAX_IN_FLIGHT batches: the model waits beyond that). */
const rows: { table: Table; rows: BatchData }[] = [];
let stop: 'close' | 'abort' | null = null;
let wake: (() => void) | null = null;
const notify = () => {
  const w = wake;
  wake = null;
  w?.();
};

port.on('message', (m: ToIo) => {
  try {
    switch (m.t) {
      case 'start':
        start = m.data;
        break;
      case 'rows':
        rows.push(m);
        break;
      case 'ack':
        free.push(m.batch);
        break;
      case 'close':
      case 'abort':
        stop = m.t;
        break;
    }
  } catch (e) {
    fail(e);
  }
  notify();
});

/** Appends the oldest rows handed over and gives their buffers back. */
function appendRows(): void {
  const m = rows.shift()!;
  appenders.get(m.table)!.append(m.rows);
  post({ t: 'recycle', table: m.table, values: m.rows.values }, m.rows.values);
}

let failed = false;
function fail(e: unknown): void {
  if (failed) return;
  failed = true;
  stop = 'abort';
  const err = e instanceof Error ? e : new Error(String(e));
  post({ t: 'error', message: err.message, stack: err.stack });
}

while (start === null) await new Promise<void>((resolve) => (wake = resolve));
const data: IoWorkerData = start;
const instance = await DuckDBInstance.create(data.file);
const conn = await instance.connect();
try {
  await conn.run(data.setup);
  for (const t of data.tables) appenders.set(t, new BatchAppender(await conn.createAppender(t)));
  reader = await EventReader.open(instance, data.plan);
  if (data.anchors) planner = await GupPlanner.open(instance, data.anchors);
  await conn.run(`SET memory_limit = '${STREAM_MEMORY_LIMIT}'`);
  for (let i = 0; i < data.ahead; i++) free.push(eventBatch());
  // Read ahead while the model has batches to give back (the end of the input is an empty batch),
  // append rows when there are none.
  let eof = false;
  while (stop === null) {
    const b: EventBatch | undefined = eof ? undefined : free.pop();
    if (b) {
      await reader.next(b);
      eof = b.n === 0;
      const plans = planner && b.n ? await planner.through(b) : new Map();
      post({ t: 'events', batch: b, plans }, batchBuffers(b));
    } else if (rows.length) {
      appendRows();
      // The model's messages (a batch given back) are taken in before the next append.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } else await new Promise<void>((resolve) => (wake = resolve));
  }
  // Every batch of rows came before the close.
  if (stop === 'close') while (rows.length) appendRows();
} catch (e) {
  fail(e);
}
// The model is done (or gave up): every batch of rows it sent came before its close.
try {
  await reader?.close();
  await planner?.close();
  for (const a of appenders.values()) a.close();
} catch (e) {
  fail(e);
}
conn.closeSync();
instance.closeSync();
if (process.env.MMREPLAY_IO_STATS) {
  const st = (await import('node:fs')).readFileSync('/proc/thread-self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  console.error(JSON.stringify({ workerCpu: (Number(f[11]) + Number(f[12])) / 100 }));
}
post({ t: 'closed' });
