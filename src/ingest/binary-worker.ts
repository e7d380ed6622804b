// The worker thread of binary ingest (binary.ts): parses the trace it is given (binary-parse.ts)
// and posts the column batches; the main thread hands each batch's buffers back once appended.
import { parentPort, workerData } from 'node:worker_threads';
import { BinaryParser, type BinaryJob } from './binary-parse.js';
import type { Ack } from './parse-link.js';

const port = parentPort!;
const parser = new BinaryParser(workerData as BinaryJob, (m, transfer) =>
  port.postMessage(m, transfer ?? []),
);
port.on('message', (a: Ack) => parser.ack(a));
await parser.run();
port.close();
