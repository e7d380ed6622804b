import type { CommandModule } from 'yargs';
import { Db } from '../src/analysis/db.js';
import { failureBySizeSpec, outcomesSpec, writeChart } from '../src/analysis/charts.js';
import { designs, exclusiveSummary, failureBySize } from '../src/analysis/exclusive.js';
import { DESIGNS, type Design } from '../src/replay/device_exclusive.js';
import { replay } from '../src/replay/replay.js';
import { ensureDb } from './ensure-db.js';
import { formatTable } from './output.js';

interface Args {
  input: string;
  design?: Design[];
  charts?: string;
  db?: string;
}

export const exclusiveCommand: CommandModule<object, Args> = {
  command: 'exclusive <input>',
  describe: 'Device-exclusive failure summary: calls, failed calls, failed pages by cause, top culprits, failures by size',
  builder: (y) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'trace or database (replayed first if it has no exclusive_* tables, or lacks a design asked for)' })
      .option('design', { type: 'string', array: true, choices: DESIGNS, describe: 'designs to show (replayed if missing): v8, 5.14, 6.15' })
      .option('charts', { type: 'string', describe: 'also write failure-by-size and cause charts (SVG, PNG, Vega-Lite JSON) into DIR' })
      .option('db', { alias: 'o', type: 'string', describe: 'database to write when INPUT is a trace' }) as never,
  handler: async (a) => {
    const file = await ensureDb(a.input, a.db);
    const asked = a.design?.flatMap((d) => String(d).split(',')) as Design[] | undefined;
    // Read-only unless a design must be replayed (replay writes a copy and renames it).
    let db = await Db.open(file, { readOnly: true });
    await db.requireOurs().catch((e) => {
      db.close();
      throw e;
    });
    const have = await designs(db);
    // Replayed once already and no request found: replaying again would find none either.
    const replayedBefore = (await db.tables()).includes('replay_runs');
    if ((!have.length && !replayedBefore) || (asked && asked.some((d) => !have.includes(d)))) {
      db.close();
      const kernelDesign = have[0];
      await replay(file, { designs: [...new Set([...(kernelDesign ? [kernelDesign as Design] : []), ...(asked ?? [])])] as Design[] });
      db = await Db.open(file, { readOnly: true });
    }
    try {
      const out = process.stdout;
      if (!(await designs(db)).length) {
        // Nothing to summarize: say why in one line, and write no empty charts.
        const [{ calls }] = await db.rows<{ calls: bigint }>(
          `SELECT count(*) AS calls FROM events WHERE event LIKE 'kprobes:%make_device_exclusive%'`,
        );
        out.write(
          calls > 0n
            ? `no device-exclusive requests in ${file}: ${calls} make_device_exclusive calls were traced, but no request the model could follow (see exclusive_calls)\n`
            : `no device-exclusive requests in ${file}: the trace has no make_device_exclusive kprobe events (record with -e device-exclusive on a kernel with kprobes; see traces/lab)\n`,
        );
        return;
      }
      for (const d of asked ?? (await designs(db))) {
        const s = await exclusiveSummary(db, d);
        out.write(`\n== design ${d}\n`);
        out.write(formatTable(s.overview));
        out.write(`\nfailed pages by cause:\n${formatTable(s.causes)}`);
        out.write(`\ntop culprits (the events that replaced or write-protected a pinned page):\n${formatTable(s.culprits)}`);
        out.write(`\nrequests by size:\n${formatTable(s.bySize)}`);
        out.write(`\nagreement with the kernel:\n${formatTable(s.agreement)}`);
      }
      if (a.charts) {
        const sizes = await failureBySize(db);
        const label = (col: string) => `CASE ${col} WHEN 0 THEN '0' WHEN -16 THEN '-EBUSY' WHEN -2 THEN '-ENOENT' ELSE ${col}::VARCHAR END`;
        const outcomes = await db.rows<{ design: string; outcome: string; requests: number }>(
          `SELECT design, ${label('predicted_result')} AS outcome, count(*)::INTEGER AS requests FROM exclusive_requests GROUP BY ALL
           UNION ALL
           SELECT 'kernel (observed)', ${label('observed_result')}, count(*)::INTEGER FROM exclusive_requests
           WHERE observed_result IS NOT NULL AND design = (SELECT min(design) FROM exclusive_requests) GROUP BY ALL ORDER BY ALL`,
        );
        const files = [
          ...(await writeChart(failureBySizeSpec(sizes, 'Device-exclusive requests failing, by size: each design against the kernel'), a.charts, 'failure-by-size')),
          ...(await writeChart(outcomesSpec(outcomes, 'How requests ended, per design'), a.charts, 'request-outcomes')),
        ];
        out.write(`\ncharts: ${files.join(', ')}\n`);
      }
    } finally {
      db.close();
    }
  },
};
