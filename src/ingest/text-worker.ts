// The worker thread of text ingest (text.ts): parses the trace it is given (text-parse.ts) and
// posts the column batches; the main thread hands each batch's buffers back once appended.
import { parentPort, workerData } from 'node:worker_threads';
import type { Ack } from './parse-link.js';
import { TextParser, type TextJob } from './text-parse.js';

const port = parentPort!;
const parser = new TextParser(workerData as TextJob, (m, transfer) =>
  port.postMessage(m, transfer ?? []),
);
port.on('message', (a: Ack) => parser.ack(a));
await parser.run();
port.close();
