// The storing half of ingest: runs a file's parser (text-parse.ts, binary-parse.ts) on a worker
// thread (parse-worker.ts), or on this one for a small file (a worker costs more to start than it
// takes to parse), and applies what it sends to the database in order: tables created, column
// batches appended, dictionary strings and rare rows written. With two cores, parsing and DuckDB's
// appends run side by side; the same messages cross either way.
import fs from 'node:fs';
import { TraceInputError } from '../parse/errors.js';
import { detectCompression } from '../parse/input.js';
import type { Loader } from '../store/loader.js';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-thread.js';
import type { IngestOptions } from './ingest.js';
import type { Ack, FromParser, ParseJob, Post, SentError } from './parse-link.js';
import type { FileSummary } from './summary.js';
import type { BinaryJob } from './binary-parse.js';
import type { TextJob } from './text-parse.js';

/** A parser as the store drives it. */
export interface Parser {
  ack(a: Ack): void;
  run(): Promise<void>;
}

/** The part of every job that comes from the database: its dictionaries and tables. */
export async function jobBase(
  file: string,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
): Promise<ParseJob> {
  return {
    file,
    fileId,
    firstId,
    dicts: {
      comms: loader.comms.snapshot(),
      flags: loader.flags.snapshot(),
      eventNames: loader.eventNames.snapshot(),
    },
    ...(await loader.columns()),
    progress: !!opts.onProgress,
  };
}

/** Below this size on disk (compressed: a tenth of it) a text file is parsed on this thread. */
const INLINE_BYTES = 4 << 20;

/**
 * Whether `file` is parsed on this thread: by `parseOn`, MMREPLAY_INGEST_WORKER, else its size
 * against `inlineBytes` (a compressed file counts ten times its size).
 */
export function parsesInline(
  file: string,
  parseOn: IngestOptions['parseOn'],
  inlineBytes = INLINE_BYTES,
): boolean {
  const mode = parseOn ?? process.env.MMREPLAY_INGEST_WORKER;
  if (mode === 'inline' || mode === 'worker') return mode === 'inline';
  let size: number;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(8);
      fs.readSync(fd, head, 0, 8, 0);
      size = fs.fstatSync(fd).size;
      if (detectCompression(head) !== 'none') size *= 10;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return true; // the parser reports it
  }
  return size < inlineBytes;
}

/** The first message of a parsing worker (parse-worker.ts): its job. */
export type WorkerJob = { kind: 'text'; job: TextJob } | { kind: 'binary'; job: BinaryJob };

/**
 * A parsing worker (parse-worker.ts), started before its job is known: its start (~0.1 s: the
 * thread, then its modules) overlaps the database's opening. It waits for a WorkerJob.
 */
export class ParseWorker {
  readonly worker: Worker;
  /** An error or exit before storeParsed took it, kept for it. */
  ended: SentError | null = null;

  constructor() {
    // A young generation of 4 MB, not V8's default: peak RSS 287-296 MB against 300-306 MB at 8
    // MB and 348 MB at V8's on the bench's 137 MB trace-cmd report text (311, 324, 348 MB on the
    // 117 MB lab text), for no more CPU that could be measured (its garbage dies young either way).
    this.worker = startWorker(new URL('./parse-worker.js', import.meta.url), null, {
      maxYoungGenerationSizeMb: 4,
    });
    this.worker.on(
      'error',
      (e) => (this.ended ??= { name: e.name, message: e.message, stack: e.stack }),
    );
    this.worker.on('exit', () => (this.ended ??= EXITED));
  }

  /** Stops it, whether it ran a job or not. */
  stop(): Promise<number> {
    this.worker.removeAllListeners('exit');
    return this.worker.terminate();
  }
}

const EXITED: SentError = { name: 'Error', message: 'ingest: the parsing worker exited' };

/**
 * Parses `job` with `parser` on this thread when `inline`, else on a worker (`pending`, or one
 * started now) that makes the same parser from the job, storing what it sends.
 */
export async function storeParsed(
  job: WorkerJob,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
  inline: boolean,
  parser: (post: Post) => Parser,
  pending: ParseWorker | null,
): Promise<FileSummary> {
  const store = new ParseStore(job.job.file, loader, opts);
  if (inline) {
    const p = parser((m) => store.receive(m));
    store.ack = (a) => p.ack(a);
    void p.run();
    return store.result();
  }
  const pw = pending ?? new ParseWorker();
  const w = pw.worker;
  store.ack = (a, transfer) => w.postMessage(a, transfer);
  w.on('message', (m: FromParser) => store.receive(m));
  // After the messages it posted before: a worker that ends after `done` ended well.
  const ended = (e: SentError) => store.receive({ t: 'error', error: e });
  w.on('error', (e) => ended({ name: e.name, message: e.message, stack: e.stack }));
  w.on('exit', () => ended(EXITED));
  if (pw.ended) ended(pw.ended);
  else w.postMessage(job);
  try {
    return await store.result();
  } finally {
    await pw.stop();
  }
}

/** Applies the parser's messages to the database, in order. */
class ParseStore {
  ack: (a: Ack, transfer: ArrayBuffer[]) => void = () => {};
  private queue: FromParser[] = [];
  private pumping = false;
  private settled = false;
  private resolve!: (s: FileSummary) => void;
  private reject!: (e: Error) => void;
  private readonly done = new Promise<FileSummary>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });

  constructor(
    private readonly file: string,
    private readonly loader: Loader,
    private readonly opts: Omit<IngestOptions, 'db'>,
  ) {}

  result(): Promise<FileSummary> {
    return this.done;
  }

  receive(m: FromParser): void {
    this.queue.push(m);
    if (!this.pumping) void this.pump();
  }

  private fail(e: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(e);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (let m; !this.settled && (m = this.queue.shift());) await this.apply(m);
    } catch (e) {
      this.fail(e as Error);
    }
    this.pumping = false;
  }

  private async apply(m: FromParser): Promise<void> {
    const loader = this.loader;
    switch (m.t) {
      case 'rows': {
        await loader.append(m.table, m.rows);
        this.ack({ table: m.table, values: m.rows.values }, m.rows.values);
        break;
      }
      case 'table': {
        // The parser sends only tables missing when the file began, which match their spec.
        const differs = await loader.createTable(m);
        if (differs)
          throw new TraceInputError(this.file, m.line, `table made meanwhile: ${differs}`);
        break;
      }
      case 'rare':
        loader.rare(m.table, m.values);
        break;
      case 'dict':
        loader[m.dict].add(m.code, m.value);
        break;
      case 'progress':
        this.opts.onProgress?.({
          file: this.file,
          bytesRead: m.bytesRead,
          bytes: m.bytes,
          events: m.events,
        });
        break;
      case 'warning':
        this.opts.onWarning?.(m.message);
        break;
      case 'done':
        this.settled = true;
        this.resolve(m.summary);
        break;
      case 'error':
        this.fail(received(m.error));
        break;
    }
  }
}

/** The error the parser threw, as the same class. */
export function received(e: SentError): Error {
  let err: Error;
  if (e.name === 'TraceInputError')
    err = new TraceInputError(e.path!, e.line ?? null, e.problem!, e.byteOffset);
  else {
    err = new Error(e.message);
    err.name = e.name;
  }
  if (e.stack) err.stack = e.stack;
  return err;
}
