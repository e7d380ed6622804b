import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingest, type FileSummary, type IngestOptions } from '../src/ingest/ingest.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const HOST = path.join(ROOT, 'traces/host');
/** trace-cmd, when installed (.ci/run installs it): reads a .dat back independently of us. */
export const traceCmd = spawnSync('trace-cmd', ['-h']).error === undefined;

export function tmpDir(prefix = 'mmreplay-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The directories tmpDir made, removed after the test file that imports this module. */
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

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

/**
 * Workload captures under traces/host, made by capture.sh (its capture.log: checkpoints, format
 * files, every format), or its `recorded/` set, recorded with `mmreplay record`.
 */
export function hostCaptures(set: '' | 'recorded' = ''): string[] {
  const root = path.join(HOST, set);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((d) => path.join(root, d))
    .filter(
      (d) =>
        fs.statSync(d).isDirectory() &&
        fs.readdirSync(d).some((f) => f.startsWith('trace.txt')) &&
        (set === 'recorded' || fs.existsSync(path.join(d, 'capture.log'))),
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

/**
 * Rows of file 0 (.dat) that file 1 (text) lacks, per typed table, over the comparable columns.
 * With `other`, file 1 is file 0 of that attached database (inputs whose tables cannot share one
 * database), and the columns are those both have.
 */
export async function typedDifferences(
  db: Db,
  skip: (table: string, column: string) => boolean,
  ts1 = 'e.ts_ns // 1000',
  ts0 = '(e.ts_ns + 500) // 1000',
  other?: string,
): Promise<Record<string, number>> {
  const columns = async (catalog: string | null, t: string) =>
    (
      await db.rows<{ c: string }>(
        `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${t}' AND column_name <> 'id' AND table_catalog = ${catalog ? `'${catalog}'` : 'current_database()'} ORDER BY ordinal_position`,
      )
    ).map((r) => r.c);
  const tables = await db.rows<{ t: string }>(
    `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE column_name = 'id' AND table_catalog = current_database() AND table_name NOT IN ('_events', 'events', 'other_events', 'field_errors') ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const theirs = other ? new Set(await columns(other, t)) : null;
    const cols = (await columns(null, t)).filter(
      (c, _i, all) =>
        !c.startsWith('__probe_') &&
        !all.includes(`${c}_sym`) &&
        !skip(t, c) &&
        (!theirs || theirs.has(c)),
    );
    const sel = (file: number, ts: string) => {
      const at = file && other ? `${other}.` : '';
      return `SELECT ${ts} AS t, e.cpu, e.tid${cols.map((c) => `, x."${c}"`).join('')}, ${file} AS f FROM ${at}"${t}" x JOIN ${at}events e USING (id) WHERE e.file_id = ${at ? 0 : file}`;
    };
    const keys = ['t', 'cpu', 'tid', ...cols.map((c) => `"${c}"`)].join(', ');
    // Each distinct row as often in one file as in the other (EXCEPT ALL both ways, in one pass).
    const [{ a, n }] =
      theirs && !theirs.size
        ? await db.rows<{ a: bigint; n: bigint }>(
            `SELECT count(*) AS a, count(*) AS n FROM (${sel(0, ts0)})`,
          )
        : await db.rows<{ a: bigint; n: bigint }>(
            `SELECT coalesce(sum(abs(n0 - n1)), 0)::BIGINT AS a, coalesce(sum(n0), 0)::BIGINT AS n FROM (
         SELECT ${keys}, count(*) FILTER (WHERE f = 0) AS n0, count(*) FILTER (WHERE f = 1) AS n1
         FROM (${sel(0, ts0)} UNION ALL ${sel(1, ts1)}) GROUP BY ${keys})`,
          );
    out[t] = Number(a);
    expect(Number(n), t).toBeGreaterThan(0);
  }
  return out;
}

/**
 * Events of file 0 and file `other` side by side in input order: the number that disagree. With
 * `otherDb`, file `other` is in that attached database.
 */
export async function eventDifferences(
  db: Db,
  textHeader: number,
  ts0 = '(a.ts_ns + 500) // 1000',
  ts1 = 'b.ts_ns // 1000',
  flags = true,
  other = 1,
  otherDb?: string,
): Promise<number> {
  const [{ bad }] = await db.rows<{ bad: bigint }>(
    `SELECT count(*) AS bad FROM events a FULL JOIN ${otherDb ? `${otherDb}.` : ''}events b ON a.file_id = 0 AND b.file_id = ${other} AND a.line_no + ${textHeader} = b.line_no
     WHERE (a.file_id = 0 OR b.file_id = ${other}) AND (a.id IS NULL OR b.id IS NULL OR ${ts0} <> ${ts1} OR a.cpu <> b.cpu OR a.tid <> b.tid OR a.comm <> b.comm${flags ? ' OR a.flags IS DISTINCT FROM b.flags' : ''} OR a.event <> b.event)`,
  );
  return Number(bad);
}
