import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../src/store/db.js';
import { ingest, type FileSummary, type IngestOptions } from '../src/ingest/ingest.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const HOST = path.join(ROOT, 'traces/host');

export function tmpDir(prefix = 'mmreplay-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Ingests files into a fresh database and returns it open, with the per-file summaries. */
export async function ingestTemp(
  files: string[],
  opts: Partial<IngestOptions> = {},
): Promise<{ db: Db; files: FileSummary[]; dbFile: string; warnings: string[] }> {
  const dbFile = path.join(tmpDir(), 'test.duckdb');
  const warnings: string[] = [];
  const summaries = await ingest(files, {
    db: dbFile,
    onWarning: (w) => warnings.push(w),
    ...opts,
  });
  return { db: await Db.open(dbFile), files: summaries, dbFile, warnings };
}

/** Workload capture directories under traces/host. */
/** Trace directories under traces/host (or its `recorded/` set, recorded with `mmreplay record`). */
export function hostCaptures(set: '' | 'recorded' = ''): string[] {
  const root = path.join(HOST, set);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((d) => path.join(root, d))
    .filter(
      (d) =>
        fs.statSync(d).isDirectory() && fs.readdirSync(d).some((f) => f.startsWith('trace.txt')),
    );
}

/** The file in dir whose name is base, compressed or not. */
export function find(dir: string, base: string): string | null {
  for (const ext of ['', '.xz', '.zst', '.gz']) {
    const p = path.join(dir, base + ext);
    if (fs.existsSync(p)) return p;
  }
  return null;
}
