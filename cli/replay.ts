import type { CommandModule } from 'yargs';
import { DESIGNS, type Design } from '../src/replay/device_exclusive.js';
import { KERNEL_VERSIONS, type KernelVersion } from '../src/replay/kernel.js';
import { ensureDb, TRACE_INPUT_OPTIONS } from './ensure-db.js';
import { checkSpan, formatTable, warn } from './output.js';

interface Args {
  input: string;
  kernel?: KernelVersion;
  design?: Design[];
  pid?: number;
  from?: string;
  to?: string;
  thp: 'always' | 'madvise' | 'never';
  levels?: 4 | 5;
  db?: string;
  probes?: string[];
  kallsyms?: string;
}

export const replayCommand: CommandModule<object, Args> = {
  command: 'replay <input>',
  describe:
    'Replay a trace (or an ingested database) through the MMU model; writes interval tables, rss_check, invariant_violations, pagemap_check',
  builder: (y) =>
    y
      .positional('input', {
        type: 'string',
        demandOption: true,
        describe: 'trace file (ingested first) or DuckDB database',
      })
      .option('kernel', {
        type: 'string',
        choices: KERNEL_VERSIONS,
        describe: 'kernel semantics (default: from the recording, else 6.18)',
      })
      .option('design', {
        type: 'string',
        array: true,
        choices: DESIGNS,
        describe:
          "device-exclusive designs; the first is replayed in full, the rest only into exclusive_* (default: the kernel's own)",
      })
      .option('pid', {
        alias: 'p',
        type: 'number',
        describe: 'replay this process (and the tasks it creates) only',
      })
      .option('from', {
        type: 'string',
        describe: 'start at this time (seconds as printed, or NNNns)',
      })
      .option('to', { type: 'string', describe: 'stop at this time' })
      .option('thp', {
        choices: ['always', 'madvise', 'never'] as const,
        default: 'madvise' as const,
        describe: "the traced machine's transparent_hugepage/enabled",
      })
      .option('levels', {
        choices: [4, 5] as const,
        describe:
          "the traced machine's paging levels, 5 with LA57 (default: the recording's, else 4)",
      })
      .options(TRACE_INPUT_OPTIONS) as never,
  handler: async (a) => {
    const { parseTimeArg } = await import('../src/ingest/ingest.js');
    const { replay } = await import('../src/replay/replay.js');
    const fromNs = a.from !== undefined ? parseTimeArg(a.from) : undefined;
    const toNs = a.to !== undefined ? parseTimeArg(a.to) : undefined;
    checkSpan(fromNs, toNs, a.from, a.to);
    const db = await ensureDb(a.input, a.db, { probes: a.probes, kallsyms: a.kallsyms });
    const runs = await replay(db, {
      kernel: a.kernel,
      designs: a.design?.flatMap((d) => String(d).split(',')) as Design[] | undefined,
      pid: a.pid,
      thp: a.thp,
      levels: a.levels,
      fromNs,
      toNs,
    });
    const filters = [
      a.pid !== undefined && `--pid ${a.pid}`,
      a.from && `--from ${a.from}`,
      a.to && `--to ${a.to}`,
    ].filter(Boolean);
    for (const r of runs)
      if (filters.length && r.events === 0)
        warn(`file ${r.fileId}: no event matched ${filters.join(' ')}: nothing was replayed`);
    process.stdout.write(
      formatTable(
        runs.map((r) => ({
          file: r.fileId,
          kernel: r.kernel,
          design: r.design,
          events: r.events,
          seconds: r.seconds.toFixed(2),
          'events/s': Math.round(r.events / r.seconds),
          violations: r.violations - r.divergences,
          divergences: r.divergences,
        })),
      ),
    );
    process.stdout.write(`database: ${db}\n`);
    for (const r of runs)
      if (r.skipped)
        warn(
          `${r.skipped} events the model could not use (design ${r.design}); the first: ${r.firstSkipped}`,
        );
    const why = `mmreplay query ${db} "SELECT design, label, rule, count(*) FROM invariant_violations GROUP BY ALL ORDER BY ALL"`;
    if (runs.some((r) => r.violations > r.divergences)) warn(`invariant violations: ${why}`);
    // A counterfactual design's state parts from the trace once its entries change what follows:
    // what the recorded events then do no longer fits it. Expected, so said, not warned.
    else if (runs.some((r) => r.divergences))
      process.stderr.write(
        `mmreplay: counterfactual designs departed from the recorded kernel (divergences): ${why}\n`,
      );
  },
};
