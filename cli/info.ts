import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { formatTable, warn } from './output.js';

export const infoCommand: CommandModule<object, { input: string; json?: boolean }> = {
  command: 'info <input>',
  describe:
    'Summarize a trace file or an ingested database: format, time span, CPUs, events by name, lost events, unparsed lines',
  builder: (y) =>
    y
      .positional('input', {
        type: 'string',
        demandOption: true,
        describe: 'trace file or DuckDB database',
      })
      .option('json', { type: 'boolean', describe: 'print JSON' }) as never,
  handler: async (a) => {
    const { Db, isDuckDbFile } = await import('../src/store/db.js');
    const { traceInfo } = await import('../src/analysis/info.js');
    const { ingest } = await import('../src/ingest/ingest.js');
    let dbFile = a.input;
    let tmp: string | null = null;
    if (!isDuckDbFile(a.input)) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-info-'));
      dbFile = path.join(tmp, 'info.duckdb');
      await ingest([a.input], { db: dbFile, onWarning: warn });
    }
    const db = await Db.open(dbFile, { readOnly: true });
    try {
      await db.requireOurs();
      const info = await traceInfo(db);
      if (a.json) {
        process.stdout.write(
          JSON.stringify(info, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n',
        );
        return;
      }
      const out = process.stdout;
      out.write(formatTable(info.files) + '\n');
      const s = info.span;
      out.write(
        `time span: ${fmtTs(s.first_ts_ns)} .. ${fmtTs(s.last_ts_ns)} (${s.duration_s?.toFixed(6) ?? '-'} s), ${s.cpus} CPUs, ${s.tasks} tasks\n\n`,
      );
      out.write(formatTable(info.events) + '\n');
      out.write(
        info.lost.length
          ? `lost events:\n${formatTable(info.lost)}\n`
          : 'lost events: none reported\n',
      );
      out.write(
        info.unparsed.length
          ? `unparsed lines (first 20):\n${formatTable(info.unparsed)}`
          : 'unparsed lines: none\n',
      );
      if (info.fieldErrors)
        out.write(`events whose fields did not parse: ${info.fieldErrors} (table field_errors)\n`);
    } finally {
      db.close();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};

function fmtTs(ns: bigint | null): string {
  if (ns === null) return '-';
  const s = BigInt(ns);
  return `${s / 1_000_000_000n}.${(s % 1_000_000_000n).toString().padStart(9, '0')}`;
}
