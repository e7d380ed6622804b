// Two databases' replay tables compared row for row with EXCEPT ALL both ways: how a change to the
// replay, or to where it runs, is shown to keep its results (bench/compare-replay.ts,
// test/replay-io.test.ts).
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteString } from '../store/db.js';
import { COLUMNS } from './columns.js';

/** The tables a replay writes (sql/replay.sql, exclusive.sql). */
export const REPLAY_TABLES = ['replay_runs', ...Object.keys(COLUMNS)];
/** Columns that differ from run to run whatever the model does. */
const VOLATILE: Record<string, string[]> = { replay_runs: ['seconds'] };

export interface TableDiff {
  table: string;
  /** Rows in a. */
  rows: number;
  onlyA: number;
  onlyB: number;
}

/** Every replay table a and b have, compared (a table whose columns differ counts one row each way). */
export async function replayDiff(a: string, b: string): Promise<TableDiff[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  const n = async (sql: string) => Number((await c.runAndReadAll(sql)).getRows()[0][0] as bigint);
  try {
    await c.run(
      `ATTACH ${quoteString(a)} AS a (READ_ONLY); ATTACH ${quoteString(b)} AS b (READ_ONLY)`,
    );
    const out: TableDiff[] = [];
    for (const t of REPLAY_TABLES) {
      const ca = await replayColumns(c, 'a', t);
      const cb = await replayColumns(c, 'b', t);
      if (!ca.length && !cb.length) continue;
      if (ca.join() !== cb.join()) {
        out.push({ table: `${t} (columns ${ca} vs ${cb})`, rows: 0, onlyA: 1, onlyB: 1 });
        continue;
      }
      const cols = ca.map(quoteIdent).join(', ');
      const from = (db: string) => `SELECT ${cols} FROM ${db}.${quoteIdent(t)}`;
      out.push({
        table: t,
        rows: await n(`SELECT count(*) FROM a.${quoteIdent(t)}`),
        onlyA: await n(`SELECT count(*) FROM (${from('a')} EXCEPT ALL ${from('b')})`),
        onlyB: await n(`SELECT count(*) FROM (${from('b')} EXCEPT ALL ${from('a')})`),
      });
    }
    return out;
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}

/** Table t's columns in the attached database db, in order, but for those no two runs share. */
export async function replayColumns(c: DuckDBConnection, db: string, t: string): Promise<string[]> {
  const r = await c.runAndReadAll(
    `SELECT column_name FROM information_schema.columns WHERE table_catalog = ${quoteString(db)} AND table_name = ${quoteString(t)} ORDER BY ordinal_position`,
  );
  return r
    .getRows()
    .map((x) => String(x[0]))
    .filter((col) => !VOLATILE[t]?.includes(col));
}
