import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import type { Db } from '../src/store/db.js';
import { UsageError } from '../src/errors.js';
import type { Calibration } from '../src/synth/costs.js';
import { synthesize, type SynthDesign } from '../src/synth/generate.js';
import { LAB_RUNS, readCalibrations } from '../src/synth/lab-costs.js';
import { parseRates, parseSizes, SCENARIOS, type Rate } from '../src/synth/scenario.js';
import { clopperPearson, raceLog } from '../src/synth/lab-results.js';
import { sweep, sweepCsv, sweepSpec, type LabPoint } from '../src/synth/sweep.js';
import { formatTable } from './output.js';

const DESIGNS: SynthDesign[] = ['5.14', 'v8', '6.15'];
/** The repository: lab traces' paths in a calibration are relative to it. */
const ROOT = path.resolve(import.meta.dirname, '..');

interface Args {
  scenario: string;
  seed: number;
  events: number;
  cpus: number;
  design?: SynthDesign[];
  sizes?: string;
  rate?: string[];
  calibration: string;
  out?: string;
  format?: 'text' | 'dat';
  sweep?: boolean;
  rates?: string;
  requests: number;
  calibrate?: string[];
  calibrateContention?: string[];
}

/** Ingests `inputs` (traces; databases are read as they are) into one temporary database and runs `f` on it. */
async function withDb<T>(inputs: string[], out: string, f: (db: Db) => Promise<T>): Promise<T> {
  // DuckDB loads here, not at start: `mmreplay --help` starts in a tenth of the time.
  const { Db } = await import('../src/store/db.js');
  const { ingest } = await import('../src/ingest/ingest.js');
  const dbs = inputs.filter((x) => x.endsWith('.duckdb'));
  const traces = inputs.filter((x) => !x.endsWith('.duckdb'));
  if (dbs.length && traces.length) throw new UsageError('give traces or one database, not both');
  if (dbs.length > 1) throw new UsageError('one database at a time');
  if (dbs.length) {
    const db = await Db.open(dbs[0], { readOnly: true });
    try {
      return await f(db);
    } finally {
      db.close();
    }
  }
  const dir = fs.mkdtempSync(path.join(path.dirname(path.resolve(out)), '.synth-cal-'));
  try {
    const tmp = path.join(dir, 'cal.duckdb');
    await ingest(traces, { db: tmp });
    const db = await Db.open(tmp, { readOnly: true });
    try {
      return await f(db);
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `6.12`, `6.12-r2` (the lab runs) or a file `mmreplay synth --calibrate` wrote (its first run). */
function calibrationOf(spec: string): Calibration {
  if (LAB_RUNS[spec]) return LAB_RUNS[spec];
  if (!fs.existsSync(spec))
    throw new UsageError(
      `--calibration ${spec}: neither a lab run (${Object.keys(LAB_RUNS).join(', ')}) nor a file`,
    );
  return readCalibrations(spec)[0];
}

export const synthCommand: CommandModule<object, Args> = {
  command: 'synth',
  describe:
    'Generate a synthetic device-exclusive trace with its ground truth (--scenario), sweep the failure rate (--sweep), or calibrate costs from traces (--calibrate)',
  builder: (y) =>
    y
      .option('scenario', {
        type: 'string',
        default: 'dontneed',
        choices: Object.keys(SCENARIOS),
        describe: 'what races the driver (see README: Synthetic traces)',
      })
      .option('seed', {
        type: 'number',
        default: 1,
        describe: 'random seed: the same seed gives the same trace',
      })
      .option('events', {
        type: 'number',
        default: 100_000,
        describe: 'stop making requests once this many events are written',
      })
      .option('cpus', {
        type: 'number',
        default: 2,
        describe: 'simulated CPUs (the driver on CPU 0, racers on the others in turn)',
      })
      .option('design', {
        type: 'string',
        array: true,
        choices: DESIGNS,
        describe:
          "the kernel's device-exclusive design (default 5.14; a --sweep takes several; 6.15 is simulated by --sweep only)",
      })
      .option('sizes', {
        type: 'string',
        describe: 'request sizes in pages, e.g. 16,64x2,256 (xN: drawn N times as often)',
      })
      .option('rate', {
        type: 'string',
        array: true,
        describe:
          'racer rates KIND=OPS_PER_S|lab|0, KIND dontneed, uffd_wp, mprotect, fork_exit, fork_write, migrate, pageout or ksm (ksmd: pages scanned per second): dontneed=500, uffd_wp=lab, dontneed=labx2 (two threads)',
      })
      .option('calibration', {
        type: 'string',
        default: '6.12',
        describe: 'costs: a lab run (6.12, 6.12-r2) or a file written by --calibrate',
      })
      .option('out', {
        alias: 'o',
        type: 'string',
        describe:
          'the trace to write (truth beside it); with --sweep a directory; with --calibrate the costs file',
      })
      .option('format', {
        type: 'string',
        choices: ['text', 'dat'],
        describe:
          'the trace: tracefs text (gzip for a .gz name) or a trace-cmd .dat, version 6 (default: dat for a .dat name, else text)',
      })
      .option('sweep', {
        type: 'boolean',
        describe:
          'simulate request size x race rate per design; write sweep.csv and failure-surface.{svg,png,vl.json} into -o DIR',
      })
      .option('rates', {
        type: 'string',
        default: 'lab,100,300,1000,3000',
        describe: "--sweep: the scenario's racer's rates (ops/s, or lab)",
      })
      .option('requests', {
        type: 'number',
        default: 100,
        describe: '--sweep: requests per (design, size, rate) cell',
      })
      .option('calibrate', {
        type: 'string',
        array: true,
        describe: 'measure the costs from these traces (or databases) of the race program',
      })
      .option('calibrate-contention', {
        type: 'string',
        array: true,
        describe:
          "measure what a writer waiting for the driver's mmap_read_lock costs (traces with mmap_lock events and an mprotect or fork racer)",
      }) as never,
  handler: async (a) => {
    const { calibrate, calibrationJson, measureContention } =
      await import('../src/synth/calibrate.js');
    if (a.calibrateContention) {
      if (!a.out) throw new UsageError('--calibrate-contention needs -o FILE (JSON)');
      const c = await withDb(a.calibrateContention, a.out, measureContention);
      const command = `mmreplay synth --calibrate-contention -o ${a.out} ${a.calibrateContention.join(' ')}`;
      const costs = Object.entries(c.costs).map(([k, v]) => `    "${k}": ${JSON.stringify(v)}`);
      fs.writeFileSync(
        a.out,
        `{\n  "command": ${JSON.stringify(command)},\n  "sources": ${JSON.stringify(c.sources)},\n  "samples": ${JSON.stringify(c.samples)},\n  "costs": {\n${costs.join(',\n')}\n  }\n}\n`,
      );
      process.stdout.write(formatTable([c.samples]));
      process.stdout.write(`contention costs: ${a.out}\n`);
      return;
    }
    if (a.calibrate) {
      if (!a.out) throw new UsageError('--calibrate needs -o FILE (the costs, JSON)');
      const dbs = a.calibrate.filter((f) => f.endsWith('.duckdb'));
      const traces = a.calibrate.filter((f) => !f.endsWith('.duckdb'));
      const cals: Calibration[] = [];
      if (traces.length) cals.push(...(await withDb(traces, a.out, calibrate)));
      for (const f of dbs) cals.push(...(await withDb([f], a.out, calibrate)));
      fs.writeFileSync(
        a.out,
        calibrationJson(cals, `mmreplay synth --calibrate -o ${a.out} ${a.calibrate.join(' ')}`),
      );
      process.stdout.write(formatTable(cals.map((c) => ({ source: c.sources[0], ...c.samples }))));
      process.stdout.write(`costs: ${a.out}\n`);
      return;
    }
    const calibration = calibrationOf(a.calibration);
    const designs = (a.design ?? ['5.14']).flatMap((d) => String(d).split(',')) as SynthDesign[];
    const base = SCENARIOS[a.scenario];
    const scenario = usage(() => ({
      ...base,
      sizes: a.sizes ? parseSizes(a.sizes) : base.sizes,
      racers: parseRates(a.rate ?? [], base.racers),
    }));
    if (!(a.cpus >= 1)) throw new UsageError('--cpus must be at least 1');
    if (a.sweep) {
      if (!a.out) throw new UsageError('--sweep needs -o DIR');
      fs.mkdirSync(a.out, { recursive: true });
      // The scenario's racer is the one swept (dontneed for --scenario none).
      const kind = base.racers[0]?.kind ?? 'dontneed';
      const rates = usage(() =>
        a
          .rates!.split(',')
          .map((r): Rate =>
            r.trim() === 'lab' ? 'lab' : (parseRates([`${kind}=${r.trim()}`], [])[0]?.rate ?? 0),
          ),
      );
      const rows = sweep(
        {
          designs: a.design ? designs : DESIGNS,
          sizes: scenario.sizes.filter((s, i, xs) => xs.indexOf(s) === i),
          rates,
          requests: a.requests,
          kind,
          seed: a.seed,
          cpus: a.cpus,
          calibration,
        },
        (r) =>
          process.stderr.write(
            `\r${r.design} ${r.rate} ${r.npages} pages: ${(100 * r.failure_rate).toFixed(1)} %        `,
          ),
      );
      process.stderr.write('\n');
      fs.writeFileSync(path.join(a.out, 'sweep.csv'), sweepCsv(rows));
      // The lab run the costs came from, as the kernel measured it (its race program's log).
      const log = calibration.sources[0]
        ? path.join(ROOT, path.dirname(calibration.sources[0]), 'stdout.log')
        : null;
      const lab: LabPoint[] =
        log && fs.existsSync(log) && kind === 'dontneed' && a.rates!.split(',').includes('lab')
          ? raceLog(log).map((l) => {
              const [lo, hi] = clopperPearson(l.failed, l.requests);
              return {
                npages: l.npages,
                failure_rate: l.failed / l.requests,
                ci_lo: lo,
                ci_hi: hi,
                label: `${/traces\/lab\/([^/]+)\//.exec(calibration.sources[0])?.[1] ?? 'lab'}, ${l.requests} per size`,
              };
            })
          : [];
      const spec = sweepSpec(rows, lab, kind);
      const { renderSvg } = await import('../src/analysis/charts.js');
      const { pngOf } = await import('../src/analysis/charts/render.js');
      const svg = await renderSvg(spec);
      fs.writeFileSync(path.join(a.out, 'failure-surface.svg'), svg);
      fs.writeFileSync(path.join(a.out, 'failure-surface.png'), pngOf(svg));
      fs.writeFileSync(path.join(a.out, 'failure-surface.vl.json'), JSON.stringify(spec, null, 1));
      process.stdout.write(
        formatTable(
          rows.map((r) => ({
            ...r,
            failure_rate: (100 * r.failure_rate).toFixed(1) + ' %',
            ci_lo: r.ci_lo.toFixed(3),
            ci_hi: r.ci_hi.toFixed(3),
          })),
        ),
      );
      process.stdout.write(
        `sweep: ${['sweep.csv', 'failure-surface.svg', 'failure-surface.png', 'failure-surface.vl.json'].map((f) => path.join(a.out!, f)).join(', ')}\n`,
      );
      return;
    }
    if (!a.out) throw new UsageError('name the trace to write: -o TRACE');
    if (designs.length !== 1) throw new UsageError('--design: one design for a trace');
    if (designs[0] === '6.15')
      throw new UsageError(
        '--design 6.15: simulated by --sweep only; the generator does not write 6.15 traces (make_device_exclusive probes) yet',
      );
    if (!(a.events >= 1)) throw new UsageError('--events must be at least 1');
    const t0 = performance.now();
    const r = synthesize({
      scenario,
      seed: a.seed,
      events: a.events,
      cpus: a.cpus,
      design: designs[0],
      out: a.out,
      format: a.format,
      calibration,
    });
    const s = (performance.now() - t0) / 1000;
    const all = [...r.bySize.values()].reduce((x, y) => x.map((v, i) => v + y[i]), [
      0, 0, 0, 0,
    ] as number[]);
    process.stdout.write(
      formatTable([
        {
          events: r.events,
          requests: r.requests,
          failed: all[1],
          ebusy: all[2],
          enoent: all[3],
          pages: r.pages,
          'failed pages': r.failedPages,
          'simulated s': (r.simulatedNs / 1e9).toFixed(3),
          seconds: s.toFixed(2),
          'events/s': Math.round(r.events / s),
        },
      ]),
    );
    process.stdout.write(`trace: ${r.files[0]}\ntruth: ${r.files.slice(1).join(', ')}\n`);
  },
};
