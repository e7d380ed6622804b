import type { CommandModule } from 'yargs';
import { UsageError } from '../src/errors.js';
import { formatTable, warn } from './output.js';

const fmtNs = (ns: bigint) =>
  `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;

interface Args {
  db: string;
  at: string;
  pid: number;
  range?: string;
  format: 'table' | 'json';
}

export const stateCommand: CommandModule<object, Args> = {
  command: 'state <db>',
  describe:
    "A process's page table at one instant, one line per page, like a pagemap dump (run replay first)",
  builder: (y) =>
    y
      .positional('db', { type: 'string', demandOption: true })
      .option('at', {
        type: 'string',
        demandOption: true,
        describe: 'time (seconds as printed, or NNNns)',
      })
      .option('pid', {
        alias: 'p',
        type: 'number',
        demandOption: true,
        describe: 'task or process id',
      })
      .option('range', {
        type: 'string',
        describe: 'START-END addresses (hex), e.g. 0x7f0000000000-0x7f0000020000',
      })
      .option('format', {
        choices: ['table', 'json'] as const,
        default: 'table' as const,
      }) as never,
  handler: async (a) => {
    const { Db } = await import('../src/store/db.js');
    const { pageTableAt } = await import('../src/analysis/state.js');
    const { parseTimeArg } = await import('../src/ingest/ingest.js');
    const db = await Db.open(a.db, { readOnly: true });
    try {
      await db.requireReplayed();
      let range: [bigint, bigint] | undefined;
      if (a.range) {
        const m = /^(0x[0-9a-f]+|\d+)-(0x[0-9a-f]+|\d+)$/i.exec(a.range.trim());
        if (!m)
          throw new UsageError(
            `bad --range "${a.range}": expected START-END, e.g. 0x7f0000000000-0x7f0000020000`,
          );
        range = [BigInt(m[1]), BigInt(m[2])];
      }
      const at = parseTimeArg(a.at);
      const [span] = await db.rows<{ first: bigint | null; last: bigint | null }>(
        'SELECT min(first_ts) AS first, max(last_ts) AS last FROM replay_runs',
      );
      if (
        span &&
        span.first !== null &&
        span.last !== null &&
        (at < span.first || at > span.last)
      ) {
        warn(
          `--at ${a.at} is outside the replayed time span ${fmtNs(span.first)} .. ${fmtNs(span.last)}: no page table is known then`,
        );
      }
      const { mm, levels, rows } = await pageTableAt(db, a.pid, at, range);
      if (a.format === 'json')
        process.stdout.write(
          JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 1) + '\n',
        );
      else {
        process.stdout.write(
          `pid ${a.pid}, mm ${mm}, at ${a.at}: ${rows.length} entries (path: ${levels === 5 ? 'pgd.p4d.pud.pmd.pte' : 'pgd.pud.pmd.pte'} indices; flags: w writable, d dirty, s soft-dirty, u uffd-wp, H PMD-mapped, z zero page)\n`,
        );
        process.stdout.write(formatTable(rows as unknown as Record<string, unknown>[]));
      }
    } finally {
      db.close();
    }
  },
};
