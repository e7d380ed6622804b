import type { CommandModule } from 'yargs';

interface Args {
  db: string;
  perfetto: boolean;
  parquet?: string;
  trace?: string;
  output?: string;
  design?: string[];
  failedWindowsOnly: boolean;
}

export const exportCommand: CommandModule<object, Args> = {
  command: 'export <db>',
  describe:
    'Export a database: --perfetto writes Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing; --parquet DIR adds it to a Hive-partitioned Parquet tree (DIR/<table>/trace=<name>/)',
  builder: (y) =>
    y
      .positional('db', {
        type: 'string',
        demandOption: true,
        describe: 'a database (or, for --perfetto, a Parquet tree)',
      })
      .option('perfetto', {
        type: 'boolean',
        default: false,
        describe:
          'Chrome trace-event JSON: a track per mm and per request; requests, calls and GUP-to-walk windows as slices; culprit events as instants; RSS as counters',
      })
      .option('parquet', {
        type: 'string',
        describe:
          "DIR: write every public table as DIR/<table>/trace=<name>/data.parquet (replacing that trace's partition)",
      })
      .option('trace', {
        type: 'string',
        describe: "the trace partition name for --parquet (default: the database file's name)",
      })
      .option('output', { alias: 'o', type: 'string', describe: 'FILE.json for --perfetto' })
      .option('design', {
        type: 'string',
        array: true,
        describe: 'designs to include (default: every design replayed)',
      })
      .option('failed-windows-only', {
        type: 'boolean',
        default: false,
        describe: 'only the GUP-to-walk windows of failed pages (smaller files)',
      })
      .check((a) => {
        if (!a.perfetto && !a.parquet)
          throw new Error('name a format: --perfetto -o FILE.json, or --parquet DIR');
        if (a.perfetto && !a.output) throw new Error('--perfetto needs -o FILE.json');
        return true;
      }) as never,
  handler: async (a) => {
    const { exportParquetTree, openForAnalysis, traceNameOf } =
      await import('../src/analysis/parquet.js');
    const { writePerfetto } = await import('../src/analysis/perfetto.js');
    if (a.parquet) {
      const tables = await exportParquetTree(a.db, a.parquet, a.trace);
      process.stdout.write(
        `${a.parquet}: ${tables.length} tables, partition trace=${a.trace ?? traceNameOf(a.db)}\n`,
      );
    }
    if (a.perfetto && a.output) {
      const db = await openForAnalysis(a.db);
      try {
        const n = await writePerfetto(db, a.output, {
          designs: a.design?.flatMap((d) => d.split(',')),
          failedWindowsOnly: a.failedWindowsOnly,
        });
        process.stdout.write(
          `${a.output}: ${n} trace events (open it in https://ui.perfetto.dev or chrome://tracing)\n`,
        );
      } finally {
        db.close();
      }
    }
  },
};
