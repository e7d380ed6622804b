import type { CommandModule } from 'yargs';
import { Db } from '../src/analysis/db.js';
import { writePerfetto } from '../src/analysis/perfetto.js';

interface Args {
  db: string;
  perfetto: boolean;
  output: string;
  design?: string[];
  failedWindowsOnly: boolean;
}

export const exportCommand: CommandModule<object, Args> = {
  command: 'export <db>',
  describe: 'Export a replayed database as a timeline: --perfetto writes Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing',
  builder: (y) =>
    y
      .positional('db', { type: 'string', demandOption: true })
      .option('perfetto', { type: 'boolean', default: false, describe: 'Chrome trace-event JSON: a track per mm and per request; requests, calls and GUP-to-walk windows as slices; culprit events as instants; RSS as counters' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'FILE.json' })
      .option('design', { type: 'string', array: true, describe: 'designs to include (default: every design replayed)' })
      .option('failed-windows-only', { type: 'boolean', default: false, describe: 'only the GUP-to-walk windows of failed pages (smaller files)' })
      .check((a) => {
        if (!a.perfetto) throw new Error('name a format: --perfetto');
        return true;
      }) as never,
  handler: async (a) => {
    const db = await Db.open(a.db, { readOnly: true });
    try {
      const n = await writePerfetto(db, a.output, { designs: a.design?.flatMap((d) => d.split(',')), failedWindowsOnly: a.failedWindowsOnly });
      process.stdout.write(`${a.output}: ${n} trace events (open it in https://ui.perfetto.dev or chrome://tracing)\n`);
    } finally {
      db.close();
    }
  },
};
