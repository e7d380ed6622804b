import type { CommandModule } from 'yargs';
import { FORMATS } from '../src/parse/detect.js';
import type { TraceFormat } from '../src/parse/record.js';
import { defaultDbFor } from '../src/paths.js';
import { checkSpan, formatTable, progress, warn } from './output.js';

interface Args {
  trace: string[];
  db?: string;
  replace?: boolean;
  parquet?: string;
  format?: TraceFormat;
  formats?: string;
  probes?: string[];
  kallsyms?: string;
  pid?: number;
  comm?: string;
  from?: string;
  to?: string;
}

export const ingestCommand: CommandModule<object, Args> = {
  command: 'ingest <trace..>',
  describe:
    'Read traces (trace-cmd .dat v6/v7, perf.data, and the text of tracefs trace/trace_pipe, trace-cmd report, perf script; gzip/xz/zstd) into DuckDB',
  builder: (y) =>
    y
      .positional('trace', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'trace files',
      })
      .option('db', {
        alias: 'o',
        type: 'string',
        describe: 'DuckDB file to write (default: first trace + .duckdb); appended to if it exists',
      })
      .option('replace', {
        type: 'boolean',
        describe:
          'replace the database instead of appending to it (the old one stays until ingest succeeds)',
      })
      .option('parquet', {
        type: 'string',
        describe: 'also write every table as DIR/TABLE.parquet',
      })
      .option('format', {
        choices: FORMATS,
        describe: 'force the input format instead of detecting it',
      })
      .option('formats', {
        type: 'string',
        describe:
          'directory of tracefs format files (SYSTEM/EVENT/format); default: formats/ beside the trace',
      })
      .option('probes', {
        type: 'string',
        array: true,
        describe:
          'kprobe definitions (kprobe_events lines or `perf probe -l` output); default: kprobe_events beside the trace',
      })
      .option('kallsyms', {
        type: 'string',
        describe:
          "the traced kernel's /proc/kallsyms or System.map, to name probes printed as addresses; default: kallsyms beside the trace",
      })
      .option('pid', {
        alias: 'p',
        type: 'number',
        describe: 'keep events of this tid or tgid only',
      })
      .option('comm', { type: 'string', describe: 'keep events of this command name only' })
      .option('from', {
        type: 'string',
        describe: 'keep events at or after this time (seconds as printed, or NNNns)',
      })
      .option('to', { type: 'string', describe: 'keep events at or before this time' }) as never,
  handler: async (a) => {
    const { ingest, parseTimeArg } = await import('../src/ingest/ingest.js');
    const db = a.db ?? defaultDbFor(a.trace[0]);
    const fromNs = a.from !== undefined ? parseTimeArg(a.from) : undefined;
    const toNs = a.to !== undefined ? parseTimeArg(a.to) : undefined;
    checkSpan(fromNs, toNs, a.from, a.to);
    const bar = progress();
    const files = await ingest(a.trace, {
      db,
      replace: a.replace,
      format: a.format,
      formatsDir: a.formats,
      probes: a.probes,
      kallsyms: a.kallsyms,
      filter: {
        pid: a.pid,
        comm: a.comm,
        fromNs,
        toNs,
      },
      onProgress: (p) => bar.update(p),
      onWarning: warn,
    }).finally(() => bar.stop());
    if (a.parquet) {
      const { exportParquet } = await import('../src/analysis/export.js');
      const n = await exportParquet(db, a.parquet);
      process.stderr.write(`wrote ${n} Parquet files to ${a.parquet}\n`);
    }
    process.stdout.write(
      formatTable(
        files.map((f) => ({
          file: f.path,
          format: f.format,
          lines: f.lines,
          events: f.events,
          filtered: f.filtered,
          unparsed: f.unparsed,
          lost: f.lost,
        })),
      ),
    );
    process.stdout.write(`database: ${db}\n`);
    const filters = [
      a.pid !== undefined && `--pid ${a.pid}`,
      a.comm !== undefined && `--comm ${a.comm}`,
      a.from && `--from ${a.from}`,
      a.to && `--to ${a.to}`,
    ].filter(Boolean);
    for (const f of files) {
      if (filters.length && f.events === 0)
        warn(`${f.path}: no event matched ${filters.join(' ')} (${f.filtered} events left out)`);
      if (f.unparsed)
        warn(
          `${f.path}: ${f.unparsed} lines not understood; see: mmreplay query ${db} "SELECT * FROM unparsed"`,
        );
    }
  },
};
