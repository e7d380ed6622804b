// Fleet scale: many traces' databases as one Hive-partitioned Parquet tree,
// DIR/<table>/trace=<name>/data.parquet, that DuckDB, Spark SQL or Trino read as partitioned
// datasets, and that the view library runs over unchanged (openParquetTree).
import fs from 'node:fs';
import path from 'node:path';
import { Db, quoteIdent, quoteString } from '../store/db.js';
import { loadModules } from './views.js';

/** Columns holding ids that are unique only within one database: offset per trace when opened. */
const FILE_COLUMNS = new Set(['file_id']);
const EVENT_COLUMNS = new Set(['id', 'event_id', 'culprit_event', 'source_event', 'enter_event']);
/** Events per trace id range: ids of trace k are k * 2^40 + id. */
const EVENT_STRIDE = 2n ** 40n;
const FILE_STRIDE = 1000;

export function traceNameOf(dbFile: string): string {
  return path.basename(dbFile).replace(/\.duckdb$/, '');
}

/**
 * Writes every public table of dbFile (`events` as its view; not the private `_` tables, nor the
 * view library's views) as DIR/<table>/trace=<trace>/data.parquet, replacing that trace's earlier
 * partition. Returns the tables written.
 */
export async function exportParquetTree(
  dbFile: string,
  dir: string,
  trace = traceNameOf(dbFile),
): Promise<string[]> {
  if (!/^[\w.-]+$/.test(trace))
    throw new Error(
      `--trace ${trace}: use letters, digits, '.', '_' and '-' (it becomes a directory name)`,
    );
  const library = new Set(loadModules().flatMap((m) => m.views.map((v) => v.name)));
  const db = await Db.open(dbFile, { readOnly: true });
  try {
    const tables = (await db.tables()).filter((t) => !t.startsWith('_') && !library.has(t)).sort();
    for (const t of tables) {
      const part = path.join(dir, t, `trace=${trace}`);
      fs.rmSync(part, { recursive: true, force: true });
      fs.mkdirSync(part, { recursive: true });
      await db.run(
        `COPY (SELECT * FROM ${quoteIdent(t)}) TO ${quoteString(path.join(part, 'data.parquet'))} (FORMAT parquet)`,
      );
    }
    return tables;
  } finally {
    db.close();
  }
}

export function isParquetTree(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isDirectory() && fs.existsSync(path.join(p, 'files'));
}

/**
 * An in-memory session whose tables are views over the tree: each table's partitions read
 * together, `trace` kept on `files`, and file and event ids offset per trace so the view library's
 * joins never meet ids of another trace.
 */
export async function openParquetTree(dir: string): Promise<Db> {
  const tables = fs
    .readdirSync(dir)
    .filter((t) => fs.statSync(path.join(dir, t)).isDirectory() && /^[a-z_][\w]*$/.test(t));
  const traces = [
    ...new Set(
      tables.flatMap((t) =>
        fs
          .readdirSync(path.join(dir, t))
          .filter((d) => d.startsWith('trace='))
          .map((d) => d.slice(6)),
      ),
    ),
  ].sort();
  const db = await Db.open(':memory:');
  const idx = `CASE trace ${traces.map((t, i) => `WHEN ${quoteString(t)} THEN ${i}`).join(' ')} END`;
  for (const t of tables) {
    const src = `read_parquet(${quoteString(path.join(dir, t, '*', '*.parquet'))}, hive_partitioning = true, union_by_name = true)`;
    const cols = (await db.rows<{ column_name: string }>(`DESCRIBE SELECT * FROM ${src}`)).map(
      (c) => c.column_name,
    );
    const replace = cols
      .filter((c) => FILE_COLUMNS.has(c) || EVENT_COLUMNS.has(c))
      .map(
        (c) =>
          (FILE_COLUMNS.has(c)
            ? `(${idx}) * ${FILE_STRIDE} + ${quoteIdent(c)}`
            : `(${idx})::BIGINT * ${EVENT_STRIDE} + ${quoteIdent(c)}`) + ` AS ${quoteIdent(c)}`,
      );
    const sel = `* ${t === 'files' ? '' : 'EXCLUDE (trace) '}${replace.length ? `REPLACE (${replace.join(', ')})` : ''}`;
    await db.run(`CREATE VIEW ${quoteIdent(t)} AS SELECT ${sel} FROM ${src}`);
  }
  return db;
}

/** A database file, or a Parquet tree written by `mmreplay export --parquet`. */
export async function openForAnalysis(p: string): Promise<Db> {
  return isParquetTree(p) ? openParquetTree(p) : Db.open(p, { readOnly: true });
}
