import type { IngestOptions } from '../src/ingest/ingest.js';
import { defaultDbFor } from '../src/paths.js';
import { warn } from './output.js';

/** The options of a command whose INPUT may be a trace, ingested first (see ensureDb). */
export const TRACE_INPUT_OPTIONS = {
  db: { alias: 'o', type: 'string', describe: 'database to write when INPUT is a trace' },
  probes: {
    type: 'string',
    array: true,
    describe: 'when INPUT is a trace: kprobe definitions (see ingest)',
  },
  kallsyms: {
    type: 'string',
    describe: 'when INPUT is a trace: /proc/kallsyms or System.map (see ingest)',
  },
} as const;

/** A database for INPUT: the input itself, or the trace ingested into --db (default beside it), replacing it. */
export async function ensureDb(
  input: string,
  db?: string,
  opts: Pick<IngestOptions, 'probes' | 'kallsyms'> = {},
): Promise<string> {
  const { ingest } = await import('../src/ingest/ingest.js');
  const { isDuckDbFile } = await import('../src/store/db.js');
  if (isDuckDbFile(input)) return input;
  const file = db ?? defaultDbFor(input);
  await ingest([input], { db: file, replace: true, onWarning: warn, ...opts });
  return file;
}
