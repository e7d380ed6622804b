import fs from 'node:fs';
import { ingest } from '../src/ingest.js';
import { defaultDbFor } from '../src/paths.js';
import { isDuckDbFile } from './info.js';
import { warn } from './output.js';

/** A database for INPUT: the input itself, or the trace ingested into --db (default beside it). */
export async function ensureDb(input: string, db?: string): Promise<string> {
  if (isDuckDbFile(input)) return input;
  const file = db ?? defaultDbFor(input);
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.wal`, { force: true });
  await ingest([input], { db: file, onWarning: warn });
  return file;
}
