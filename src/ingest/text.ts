// Text ingest: a trace's text is parsed into column batches on a worker thread (text-parse.ts,
// text-worker.ts) while this thread creates the tables and appends the batches, so with two cores
// parsing and DuckDB's appends run side by side. A small file is parsed on this thread instead
// (a worker costs more to start than the file takes to parse); the same messages cross either way.
import fs from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { TraceInputError } from '../parse/errors.js';
import { detectCompression } from '../parse/input.js';
import type { Loader } from '../store/loader.js';
import { startWorker } from '../worker-thread.js';
import type { FileSummary, IngestOptions } from './ingest.js';
import { TextParser, type FromParser, type SentError, type TextJob } from './text-parse.js';

/** Below this size on disk (compressed: a tenth of it) a file is parsed on this thread. */
const INLINE_BYTES = 4 << 20;

export async function ingestText(
  file: string,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
): Promise<FileSummary> {
  const job: TextJob = {
    file,
    fileId,
    firstId,
    format: opts.format,
    formatsDir: opts.formatsDir,
    probes: opts.probes,
    kallsyms: opts.kallsyms,
    filter: opts.filter ?? {},
    dicts: {
      comms: loader.comms.snapshot(),
      flags: loader.flags.snapshot(),
      eventNames: loader.eventNames.snapshot(),
    },
    ...(await loader.columns()),
    progress: !!opts.onProgress,
  };
  const store = new TextStore(file, loader, opts);
  if (inline(file, opts.parseOn)) {
    const parser = new TextParser(job, (m) => store.receive(m));
    store.ack = (a) => parser.ack(a);
    void parser.run();
    return store.result();
  }
  // A young generation of 4 MB, not V8's default: peak RSS 287-296 MB against 300-306 MB at 8 MB
  // and 348 MB at V8's on the bench's 137 MB trace-cmd report text (311, 324, 348 MB on the 117 MB
  // lab text), for no more CPU that could be measured (its garbage dies young either way).
  const worker = startWorker(new URL('./text-worker.js', import.meta.url), job, {
    maxYoungGenerationSizeMb: 4,
  });
  store.ack = (a, transfer) => worker.postMessage(a, transfer);
  worker.on('message', (m: FromParser) => store.receive(m));
  // After the messages it posted before: a worker that ends after `done` ended well.
  worker.on('error', (e) =>
    store.receive({ t: 'error', error: { name: e.name, message: e.message, stack: e.stack } }),
  );
  worker.on('exit', () =>
    store.receive({
      t: 'error',
      error: { name: 'Error', message: 'text ingest: the parsing worker exited' },
    }),
  );
  try {
    return await store.result();
  } finally {
    await stop(worker);
  }
}

function inline(file: string, parseOn: IngestOptions['parseOn']): boolean {
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
  return size < INLINE_BYTES;
}

async function stop(worker: Worker): Promise<void> {
  worker.removeAllListeners('exit');
  await worker.terminate();
}

/** Applies the parser's messages to the database, in order. */
class TextStore {
  ack: (a: { table: string; values: ArrayBuffer[] }, transfer: ArrayBuffer[]) => void = () => {};
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

  fail(e: Error): void {
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
        (await loader.batchAppender(m.table)).append(m.rows);
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
function received(e: SentError): Error {
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
