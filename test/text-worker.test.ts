// Text parsed on the worker thread gives the tables parsing on the main thread gives, in every
// text format, compressed or not; an error in the worker reaches the caller as the same error.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ingest } from '../src/ingest/ingest.js';
import { TraceInputError } from '../src/parse/errors.js';
import { Db } from '../src/store/db.js';
import { HOST, ROOT, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const traces = [
  path.join(HOST, 'fork_cow/trace.txt'),
  path.join(HOST, 'migrate/report-t.txt.xz'),
  path.join(HOST, 'anon/perf-script-F.txt'),
  path.join(ROOT, 'traces/lab/6.12/race-thp/trace.txt.xz'),
  path.join(HOST, 'lost/trace_pipe.txt.xz'),
];

describe('text ingest on a worker thread', () => {
  it('fills every table as parsing inline does', async () => {
    const a = path.join(dir, 'inline.duckdb');
    const b = path.join(dir, 'worker.duckdb');
    const warnings: [string[], string[]] = [[], []];
    await ingest(traces, { db: a, parseOn: 'inline', onWarning: (w) => warnings[0].push(w) });
    await ingest(traces, { db: b, parseOn: 'worker', onWarning: (w) => warnings[1].push(w) });
    expect(warnings[1]).toEqual(warnings[0]);
    const db = await Db.open(':memory:', { create: true });
    await db.run(`ATTACH '${a}' AS a (READ_ONLY); ATTACH '${b}' AS b (READ_ONLY)`);
    const tables = await db.rows<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_catalog = 'a' AND table_schema = 'main'`,
    );
    expect(tables.length).toBeGreaterThan(20);
    const diffs: string[] = [];
    for (const { t } of tables) {
      const [r] = await db.rows<{ n: bigint; m: bigint; rows: bigint }>(
        `SELECT (SELECT count(*) FROM (FROM a."${t}" EXCEPT ALL FROM b."${t}")) AS n, (SELECT count(*) FROM (FROM b."${t}" EXCEPT ALL FROM a."${t}")) AS m`,
      );
      if (Number(r.n) || Number(r.m)) diffs.push(`${t}: ${r.n} / ${r.m}`);
    }
    expect(diffs).toEqual([]);
    const [{ n }] = await db.rows<{ n: bigint }>(`SELECT count(*) AS n FROM b.events`);
    expect(Number(n)).toBeGreaterThan(10_000);
    db.close();
  });

  it("reports the worker's input errors with their class, file and line", async () => {
    const bad = path.join(dir, 'not-a-trace.txt');
    fs.writeFileSync(bad, 'hello\nworld\n');
    const e = await ingest([bad], { db: path.join(dir, 'bad.duckdb'), parseOn: 'worker' }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TraceInputError);
    expect((e as TraceInputError).message).toMatch(
      /not-a-trace\.txt:1: not a trace this tool reads/,
    );
  });
});
