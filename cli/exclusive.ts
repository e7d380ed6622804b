import path from 'node:path';
import type { CommandModule } from 'yargs';
import { DESIGNS, type Design } from '../src/replay/device_exclusive.js';
import { ensureDb, TRACE_INPUT_OPTIONS } from './ensure-db.js';
import { formatTable } from './output.js';

interface Args {
  input: string;
  design?: Design[];
  charts?: string;
  db?: string;
  probes?: string[];
  kallsyms?: string;
}

export const exclusiveCommand: CommandModule<object, Args> = {
  command: 'exclusive <input>',
  describe:
    'Device-exclusive failure summary: calls, failed calls, failed pages by cause, top culprits, failures by size',
  builder: (y) =>
    y
      .positional('input', {
        type: 'string',
        demandOption: true,
        describe:
          'trace or database (replayed first if it has no exclusive_* tables, or lacks a design asked for)',
      })
      .option('design', {
        type: 'string',
        array: true,
        choices: DESIGNS,
        describe: 'designs to show (replayed if missing): v8, 5.14, 6.15',
      })
      .option('charts', {
        type: 'string',
        describe: 'also write failure-by-size and cause charts (SVG, PNG, Vega-Lite JSON) into DIR',
      })
      .options(TRACE_INPUT_OPTIONS) as never,
  handler: async (a) => {
    const { Db } = await import('../src/store/db.js');
    const { renderChart, writeRendered } = await import('../src/analysis/charts/render.js');
    const { designs, exclusiveSummary } = await import('../src/analysis/exclusive.js');
    const { replay } = await import('../src/replay/replay.js');
    const file = await ensureDb(a.input, a.db, { probes: a.probes, kallsyms: a.kallsyms });
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
      await replay(file, {
        designs: [
          ...new Set([...(kernelDesign ? [kernelDesign as Design] : []), ...(asked ?? [])]),
        ] as Design[],
      });
      db = await Db.open(file, { readOnly: true });
    }
    try {
      const out = process.stdout;
      if (!(await designs(db)).length) {
        // Nothing to summarize: say why in one line, and write no empty charts.
        const [p] = (await db.tables()).includes('probes')
          ? await db.rows<{ probes: bigint; bound: bigint }>(
              `SELECT count(*) AS probes, count(*) FILTER (func IN ('make_device_exclusive_range', 'make_device_exclusive')) AS bound FROM probes`,
            )
          : [{ probes: 0n, bound: 0n }];
        out.write(
          `no device-exclusive requests in ${file}: ${
            p.bound > 0n
              ? 'make_device_exclusive_range is probed, but no call was traced'
              : p.probes > 0n
                ? `its kprobes probe other functions, or print addresses that no definition or kallsyms names (mmreplay probes ${file})`
                : 'the trace has no kprobe events'
          }; mmreplay probes --kernel 6.12 prints the probes to record\n`,
        );
        return;
      }
      for (const d of asked ?? (await designs(db))) {
        const s = await exclusiveSummary(db, d);
        out.write(`\n== design ${d}\n`);
        out.write(formatTable(s.overview));
        out.write(`\nfailed pages by cause:\n${formatTable(s.causes)}`);
        out.write(
          `\ntop culprits (the events that replaced or write-protected a pinned page):\n${formatTable(s.culprits)}`,
        );
        out.write(`\nrequests by size:\n${formatTable(s.bySize)}`);
        out.write(`\nagreement with the kernel:\n${formatTable(s.agreement)}`);
      }
      // What the trace's probes could not show, once, with the command that says how to add them.
      const [hint] = await db.rows<{ note: string | null }>(
        `SELECT any_value(regexp_extract(note, 'untraced: [^(]*')) AS note FROM exclusive_requests WHERE note LIKE '%untraced:%'`,
      );
      if (hint?.note)
        process.stderr.write(`mmreplay: hint: ${hint.note.trim()}; see mmreplay probes ${file}\n`);
      if (a.charts) {
        const files: string[] = [];
        for (const name of ['failure-by-size', 'request-outcomes']) {
          const c = await renderChart(db, name);
          for (const ext of ['svg', 'png', 'vl.json'])
            files.push(path.join(a.charts, `${name}.${ext}`));
          for (const f of files.slice(-3)) writeRendered(c, f);
        }
        out.write(`\ncharts: ${files.join(', ')}\n`);
      }
    } finally {
      db.close();
    }
  },
};
