// Text ingest: a trace's text is parsed into column batches (text-parse.ts), on a worker thread
// (parse-worker.ts) unless the file is small, while this thread creates the tables and appends the
// batches (parse-store.ts).
import type { Loader } from '../store/loader.js';
import type { FileSummary, IngestOptions } from './ingest.js';
import { jobBase, parsesInline, storeParsed, type ParseWorker } from './parse-store.js';
import { TextParser, type TextJob } from './text-parse.js';

export async function ingestText(
  file: string,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
  pending: ParseWorker | null,
): Promise<FileSummary> {
  const job: TextJob = {
    ...(await jobBase(file, fileId, firstId, loader, opts)),
    format: opts.format,
    formatsDir: opts.formatsDir,
    probes: opts.probes,
    kallsyms: opts.kallsyms,
    filter: opts.filter ?? {},
  };
  return storeParsed(
    { kind: 'text', job },
    loader,
    opts,
    parsesInline(file, opts.parseOn),
    (post) => new TextParser(job, post),
    pending,
  );
}
