import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import path from 'node:path';
import { UsageError } from '../src/errors.js';
import { formatTable } from './output.js';

interface Args {
  db: string;
  sql: string;
  format: 'table' | 'csv' | 'json' | 'parquet';
  output?: string;
  write?: boolean;
}

export const queryCommand: CommandModule<object, Args> = {
  command: 'query <db> <sql>',
  describe: 'Run SQL against an ingested database (read-only, and no other file: see --write)',
  builder: (y) =>
    y
      .positional('db', { type: 'string', demandOption: true })
      .positional('sql', { type: 'string', demandOption: true })
      .option('format', {
        alias: 'f',
        choices: ['table', 'csv', 'json', 'parquet'] as const,
        default: 'table' as const,
      })
      .option('output', {
        alias: 'o',
        type: 'string',
        describe: 'write to FILE instead of stdout (required for parquet)',
      })
      .option('write', {
        type: 'boolean',
        describe: 'open the database read-write, so SQL may change it (never other files)',
      }) as never,
  handler: async (a) => {
    const { Db, quoteString } = await import('../src/store/db.js');
    if (a.format === 'parquet' && !a.output) throw new UsageError('--format parquet needs -o FILE');
    // The database alone, read-only unless --write: no COPY, ATTACH, read_csv or INSTALL reaches
    // another file, except the -o file.
    const db = await Db.open(a.db, {
      readOnly: !a.write,
      sandbox: { allowedPaths: a.output ? [path.resolve(a.output)] : [] },
    });
    try {
      const sql = a.sql.trim().replace(/;\s*$/, '');
      if (a.format === 'parquet' || (a.output && a.format === 'csv')) {
        await userSql(a.db, () =>
          db.run(
            `COPY (${sql}) TO ${quoteString(path.resolve(a.output!))} (FORMAT ${a.format === 'csv' ? 'csv, HEADER' : 'parquet'})`,
          ),
        );
        return;
      }
      const rows = await userSql(a.db, () => db.rows(sql));
      const text =
        a.format === 'json'
          ? JSON.stringify(
              rows,
              (_k, v) =>
                typeof v === 'bigint'
                  ? Number.isSafeInteger(Number(v))
                    ? Number(v)
                    : v.toString()
                  : v,
              2,
            ) + '\n'
          : a.format === 'csv'
            ? toCsv(rows)
            : formatTable(rows);
      if (a.output) fs.writeFileSync(a.output, text);
      else process.stdout.write(text);
    } finally {
      db.close();
    }
  },
};

/** The user's SQL: its errors are usage errors, the read-only and sandbox ones explained. */
async function userSql<T>(file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (/read-only mode/.test(msg))
      throw new UsageError(`${file} is opened read-only; pass --write to change it (${msg})`);
    if (/Permission Error/.test(msg))
      throw new UsageError(`query reads the database only, no other file (${msg})`);
    throw new UsageError(`SQL: ${msg}`);
  }
}

function toCsv(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '';
  const cols = Object.keys(rows[0]);
  const esc = (v: unknown) => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return (
    [cols.join(','), ...rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n') + '\n'
  );
}
