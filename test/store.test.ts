// How ingest stores `events`: `_events` with comm, flags and event coded through dictionaries, read
// back through the `events` view; a second ingest into the same database extends the dictionaries.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { exportParquet } from '../src/analysis/export.js';
import { ingest } from '../src/ingest/ingest.js';
import { HOST, tmpDir } from './helpers.js';

const TRACE = path.join(HOST, 'anon/trace.txt'); // tracefs, with the flags column
const REPORT = path.join(HOST, 'fork_cow/report.txt'); // trace-cmd report: other tasks and events
const PERF = path.join(HOST, 'fork_cow/perf-script.txt'); // no flags column

type Row = {
  id: bigint;
  file_id: number;
  line_no: bigint;
  ts_ns: bigint;
  cpu: number;
  tid: number;
  tgid: number | null;
  comm: string;
  flags: string | null;
  event: string;
};

async function withDb<T>(file: string, f: (db: Db) => Promise<T>): Promise<T> {
  const db = await Db.open(file);
  try {
    return await f(db);
  } finally {
    db.close();
  }
}

const allEvents = (db: Db) => db.rows<Row>('SELECT * FROM events ORDER BY id');

/** Each row's comm, tid, flags and event name, against the text of its line. */
function checkAgainstText(rows: Row[], fileId: number, file: string): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const mine = rows.filter((r) => r.file_id === fileId);
  expect(mine.length).toBeGreaterThan(50);
  for (const r of mine) {
    const line = lines[Number(r.line_no) - 1];
    // tracefs prints trace_marker writes as tracing_mark_write, syscalls as sys_NAME(...) or sys_NAME ->.
    const name = r.event.split(':')[1];
    const named =
      line.includes(name) ||
      line.includes(name.replace(/^sys_(enter|exit)_/, 'sys_')) ||
      (name === 'print' && line.includes('tracing_mark_write'));
    const ok = new RegExp(
      `^\\s*(\\S+:\\s+)?${r.comm.replace(/[^\w]/g, '\\$&')}(-| +)(${r.tgid}\\/)?${r.tid} `,
    ).test(line);
    expect({
      line,
      comm: ok,
      flags: r.flags === null || line.includes(` ${r.flags} `),
      event: named,
    }).toEqual({ line, comm: true, flags: true, event: true });
  }
}

describe('events storage', () => {
  it('codes comm, flags and event through dictionaries, and a second ingest extends them', async () => {
    const dir = tmpDir();
    const one = path.join(dir, 'one.duckdb');
    const two = path.join(dir, 'two.duckdb');
    await ingest([TRACE, REPORT, PERF], { db: one });
    await ingest([TRACE], { db: two });
    const [before] = await withDb(two, (db) =>
      db.rows<{ comms: bigint; events: bigint }>(
        'SELECT (SELECT count(*) FROM _comms) comms, (SELECT count(*) FROM _event_names) events',
      ),
    );
    await ingest([REPORT, PERF], { db: two });

    const a = await withDb(one, allEvents);
    const b = await withDb(two, allEvents);
    expect(b.length).toBe(a.length);
    expect(b).toEqual(a);
    checkAgainstText(b, 0, TRACE);
    checkAgainstText(b, 1, REPORT);
    checkAgainstText(b, 2, PERF);
    expect(b.filter((r) => r.file_id === 2).every((r) => r.flags === null)).toBe(true);

    await withDb(two, async (db) => {
      // One code per string, strings the first ingest had kept their codes, and new ones were added.
      for (const [t, code, value] of [
        ['_comms', 'comm_id', 'comm'],
        ['_flags', 'flags_id', 'flags'],
        ['_event_names', 'event_id', 'event'],
      ]) {
        const [d] = await db.rows<{ n: bigint; codes: bigint; values: bigint }>(
          `SELECT count(*) n, count(DISTINCT ${code}) codes, count(DISTINCT ${value}) "values" FROM ${t}`,
        );
        expect({ t, codes: d.codes, values: d.values }).toEqual({ t, codes: d.n, values: d.n });
      }
      const [after] = await db.rows<{ comms: bigint; events: bigint }>(
        'SELECT (SELECT count(*) FROM _comms) comms, (SELECT count(*) FROM _event_names) events',
      );
      expect(after.comms).toBeGreaterThan(before.comms);
      expect(after.events).toBeGreaterThan(before.events);
      // Every stored code names a string.
      const [dangling] = await db.rows<{ n: bigint }>(
        `SELECT count(*) n FROM _events e WHERE e.comm_id NOT IN (SELECT comm_id FROM _comms) OR e.event_id NOT IN (SELECT event_id FROM _event_names)
           OR (e.flags_id IS NOT NULL AND e.flags_id NOT IN (SELECT flags_id FROM _flags))`,
      );
      expect(dangling.n).toBe(0n);
      // The view documents its columns where SQL clients look.
      const docs = await db.rows<{ column_name: string; comment: string | null }>(
        `SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'events' AND column_name IN ('ts_ns', 'event')`,
      );
      expect(docs.every((d) => d.comment)).toBe(true);
    });
  });

  it('never reuses the codes of strings an interrupted ingest did not write', async () => {
    const dbFile = path.join(tmpDir(), 'lost.duckdb');
    await ingest([TRACE], { db: dbFile });
    const gone = await withDb(dbFile, async (db) => {
      const [{ id, comm }] = await db.rows<{ id: number; comm: string }>(
        'SELECT comm_id id, comm FROM _comms ORDER BY comm_id DESC LIMIT 1',
      );
      await db.run(`DELETE FROM _comms WHERE comm_id = ${id}`);
      return { id, comm };
    });
    await ingest([REPORT], { db: dbFile });
    await withDb(dbFile, async (db) => {
      const rows = await db.rows<{ comm: string | null; file_id: number }>(
        `SELECT DISTINCT c.comm, e.file_id FROM _events e LEFT JOIN _comms c USING (comm_id) WHERE e.comm_id = ${gone.id}`,
      );
      // The first file's rows lost their string (NULL), none of them took another one.
      expect(rows).toEqual([{ comm: null, file_id: 0 }]);
    });
  });

  it('moves a database with an `events` table into _events and the dictionaries', async () => {
    const dir = tmpDir();
    const fresh = path.join(dir, 'fresh.duckdb');
    const old = path.join(dir, 'old.duckdb');
    await ingest([TRACE, REPORT], { db: fresh });
    await ingest([TRACE], { db: old });
    await withDb(old, (db) =>
      db.run(`CREATE TABLE events_t AS SELECT * FROM events ORDER BY id; DROP VIEW events;
              DROP TABLE _events; DROP TABLE _comms; DROP TABLE _flags; DROP TABLE _event_names;
              ALTER TABLE events_t RENAME TO events`),
    );
    await ingest([REPORT], { db: old });
    expect(await withDb(old, allEvents)).toEqual(await withDb(fresh, allEvents));
  });

  it('exports the events view to Parquet, not the private tables', async () => {
    const dir = tmpDir();
    const dbFile = path.join(dir, 'x.duckdb');
    await ingest([TRACE], { db: dbFile });
    const out = path.join(dir, 'parquet');
    await exportParquet(dbFile, out);
    const files = fs.readdirSync(out);
    expect(files).toContain('events.parquet');
    expect(files.filter((f) => f.startsWith('_'))).toEqual([]);
    await withDb(':memory:', async (db) => {
      const cols = await db.rows<{ column_name: string }>(
        `DESCRIBE SELECT * FROM ${`'${path.join(out, 'events.parquet')}'`}`,
      );
      expect(cols.map((c) => c.column_name)).toEqual([
        'id',
        'file_id',
        'line_no',
        'ts_ns',
        'cpu',
        'tid',
        'tgid',
        'comm',
        'flags',
        'event',
      ]);
      const [{ n }] = await db.rows<{ n: bigint }>(
        `SELECT count(*) n FROM '${path.join(out, 'events.parquet')}' WHERE comm IS NULL OR event IS NULL`,
      );
      expect(n).toBe(0n);
    });
  });
});
