// `npm run bench:floor`: what DuckDB alone costs, on one thread, to store the rows ingest and replay
// write, per trace event. The rows are first built (ingest and replay of the stress capture) and
// copied into in-memory tables; timing covers only INSERT ... SELECT into a fresh database file and
// the checkpoint. No JavaScript runs in between, so no parser or model can go below this cost.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-floor-'));
const src = path.join(tmp, 'stress.duckdb');
const bin = path.join(ROOT, 'bin/mmreplay.js');
execFileSync(bin, ['ingest', path.join(ROOT, 'traces/host/stress/trace.txt.xz'), '--db', src], {
  stdio: 'ignore',
});
execFileSync(bin, ['replay', src], { stdio: 'ignore' });

const REPLAY_TABLES = [
  'pte_intervals',
  'folio_intervals',
  'vma_intervals',
  'rss_check',
  'pgtable_check',
  'tasks',
  'mm',
  'invariant_violations',
];

/** CPU ms DuckDB takes to store the given tables' rows (threads = 1), and how many rows. */
async function store(tables: (t: string[]) => string[]): Promise<{ cpuMs: number; rows: number }> {
  const file = path.join(tmp, 'floor.duckdb');
  fs.rmSync(file, { force: true });
  const inst = await DuckDBInstance.create(file);
  const c = await inst.connect();
  await c.run(`SET threads = 1; SET memory_limit = '4GB'; ATTACH '${src}' AS src (READ_ONLY)`);
  const all = (
    await c.runAndReadAll(
      `SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src' AND table_type = 'BASE TABLE'`,
    )
  )
    .getRows()
    .map((r) => String(r[0]));
  const chosen = tables(all);
  let rows = 0;
  for (const t of chosen) {
    await c.run(
      `CREATE TEMP TABLE "m_${t}" AS SELECT * FROM src."${t}"; CREATE TABLE "${t}" AS SELECT * FROM src."${t}" LIMIT 0`,
    );
    rows += Number((await c.runAndReadAll(`SELECT count(*) FROM "m_${t}"`)).getRows()[0][0]);
  }
  await c.run('DETACH src');
  const before = process.cpuUsage();
  for (const t of chosen) await c.run(`INSERT INTO "${t}" SELECT * FROM "m_${t}"`);
  await c.run('CHECKPOINT');
  const used = process.cpuUsage(before);
  c.closeSync();
  inst.closeSync();
  return { cpuMs: (used.user + used.system) / 1000, rows };
}

const inst = await DuckDBInstance.create(src, { access_mode: 'READ_ONLY' });
const c = await inst.connect();
const count = async (sql: string) => Number((await c.runAndReadAll(sql)).getRows()[0][0]);
const events = await count('SELECT count(*) FROM _events');
const replayed = await count('SELECT sum(events) FROM replay_runs');
const mb = (await count('SELECT sum(bytes) FROM files')) / 1e6;
c.closeSync();
inst.closeSync();
const text =
  execFileSync('xz', ['-dc', path.join(ROOT, 'traces/host/stress/trace.txt.xz')], {
    maxBuffer: 1 << 30,
  }).length / 1e6;

const ingest = await store((all) =>
  all.filter(
    (t) =>
      !REPLAY_TABLES.includes(t) &&
      !t.startsWith('exclusive') &&
      t !== 'replay_runs' &&
      t !== 'pagemap_check',
  ),
);
const replay = await store((all) => all.filter((t) => REPLAY_TABLES.includes(t)));
const usIngest = (ingest.cpuMs * 1000) / events;
const usReplay = (replay.cpuMs * 1000) / replayed;
console.table([
  {
    writes: 'ingest tables',
    rows: ingest.rows,
    'per event, µs CPU': usIngest.toFixed(2),
    ceiling: `${((1e6 / usIngest / events) * text).toFixed(0)} MB/s of tracefs text`,
  },
  {
    writes: 'replay tables',
    rows: replay.rows,
    'per event, µs CPU': usReplay.toFixed(2),
    ceiling: `${(1e6 / usReplay / 1e6).toFixed(2)} M events/s`,
  },
]);
console.log(
  `stress capture: ${events} events (${text.toFixed(1)} MB of tracefs text, ${mb.toFixed(1)} MB compressed), ${replayed} replayed`,
);
fs.rmSync(tmp, { recursive: true, force: true });
