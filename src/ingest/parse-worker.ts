// The parsing worker of ingest (parse-store.ts): started before its job is known, so that its
// start overlaps the database's opening; it gets the job as its first message, parses the trace
// (text-parse.ts or binary-parse.ts) and posts the column batches, and the main thread hands each
// batch's buffers back once appended.
import { parentPort } from 'node:worker_threads';
import { BinaryParser } from './binary-parse.js';
import type { Ack, Post } from './parse-link.js';
import type { WorkerJob } from './parse-store.js';
import { TextParser } from './text-parse.js';

const port = parentPort!;
const post: Post = (m, transfer) => port.postMessage(m, transfer ?? []);
port.once('message', (m: WorkerJob) => {
  const parser = m.kind === 'text' ? new TextParser(m.job, post) : new BinaryParser(m.job, post);
  port.on('message', (a: Ack) => parser.ack(a));
  void parser.run().then(() => port.close());
});
