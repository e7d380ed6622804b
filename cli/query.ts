import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { Db, quoteString } from '../src/analysis/db.js';
import { formatTable } from './output.js';

interface Args {
  db: string;
  sql: string;
  format: 'table' | 'csv' | 'json' | 'parquet';
  output?: string;
}

export const queryCommand: CommandModule<object, Args> = {
  command: 'query <db> <sql>',
  describe: 'Run SQL against an ingested database',
  builder: (y) =>
    y
      .positional('db', { type: 'string', demandOption: true })
      .positional('sql', { type: 'string', demandOption: true })
      .option('format', { alias: 'f', choices: ['table', 'csv', 'json', 'parquet'] as const, default: 'table' as const })
      .option('output', { alias: 'o', type: 'string', describe: 'write to FILE instead of stdout (required for parquet)' }) as never,
  handler: async (a) => {
    const db = await Db.open(a.db);
    try {
      const sql = a.sql.trim().replace(/;\s*$/, '');
      if (a.format === 'parquet' || (a.output && a.format === 'csv')) {
        if (!a.output) throw new Error('--format parquet needs -o FILE');
        await db.run(`COPY (${sql}) TO ${quoteString(a.output)} (FORMAT ${a.format === 'csv' ? 'csv, HEADER' : 'parquet'})`);
        return;
      }
      const rows = await db.rows(sql);
      const text =
        a.format === 'json'
          ? JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v), 2) + '\n'
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

function toCsv(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '';
  const cols = Object.keys(rows[0]);
  const esc = (v: unknown) => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n') + '\n';
}
