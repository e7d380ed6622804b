// The synthetic DONTNEED race against the lab's: with costs calibrated from each lab run's trace,
// the generator's failure fraction per request size lands inside the exact binomial 95 % interval
// of that run's measured fraction (the race program's RACE_CALL log lines).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingest } from '../src/ingest/ingest.js';
import { calibrate } from '../src/synth/calibrate.js';
import { scaled, type Calibration } from '../src/synth/costs.js';
import { synthesize } from '../src/synth/generate.js';
import { LAB_RUNS, readCalibrations, LAB_COSTS_FILE } from '../src/synth/lab-costs.js';
import { clopperPearson, raceLog } from '../src/synth/lab-results.js';
import { SCENARIOS } from '../src/synth/scenario.js';
import { ROOT, tmpDir } from './helpers.js';

const RUNS = [
  { name: '6.12', log: 'traces/lab/6.12/race-dontneed/stdout.log' },
  { name: '6.12-r2', log: 'traces/lab/6.12-r2/race-dontneed/A/stdout.log' },
];
/** Synthetic requests per size: enough that their own sampling error is small beside the lab's. */
const PER_SIZE = 600;

/** Per size: the lab's failures, its 95 % interval, and the synthetic fraction. */
function curve(run: (typeof RUNS)[number], cal: Calibration, seed: number) {
  const lab = raceLog(path.join(ROOT, run.log));
  const sizes = lab.map((l) => l.npages);
  const r = synthesize({
    scenario: { ...SCENARIOS.dontneed, sizes, order: 'lab', perSize: PER_SIZE },
    seed,
    events: 0,
    cpus: 2,
    design: '5.14',
    calibration: cal,
  });
  return lab.map((l) => {
    const [lo, hi] = clopperPearson(l.failed, l.requests);
    const [n, failed] = r.bySize.get(l.npages)!;
    const synthetic = failed / n;
    return {
      npages: l.npages,
      lab: `${l.failed}/${l.requests}`,
      lo: +lo.toFixed(3),
      hi: +hi.toFixed(3),
      synthetic: +synthetic.toFixed(3),
      inside: synthetic >= lo && synthetic <= hi,
    };
  });
}

describe('synth calibration against the lab', () => {
  for (const run of RUNS) {
    it(`DONTNEED failure fraction by size lands in the ${run.name} run's 95 % intervals`, () => {
      const rows = curve(run, LAB_RUNS[run.name], 12345);
      expect(rows.filter((r) => !r.inside)).toEqual([]);
      // The curve is the race's: rising from none at one page to all at 256.
      expect(rows[0].synthetic).toBeLessThan(0.02);
      expect(rows.at(-1)!.synthetic).toBeGreaterThan(0.9);
    });
  }

  it('tells a wrong calibration apart: walks ten times faster leave the intervals', () => {
    const rows = curve(
      RUNS[0],
      { ...LAB_RUNS['6.12'], costs: scaled(LAB_RUNS['6.12'].costs, 0.1) },
      12345,
    );
    expect(rows.filter((r) => !r.inside).length).toBeGreaterThan(0);
  });

  it('lab-costs.json is what calibrate() measures on the lab trace (6.12-r2 set A)', async () => {
    const trace = 'traces/lab/6.12-r2/race-dontneed/A/trace.txt.xz';
    const dbFile = path.join(tmpDir('mmreplay-cal-'), 'lab.duckdb');
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      await ingest([trace], { db: dbFile });
    } finally {
      process.chdir(cwd);
    }
    const db = await Db.open(dbFile, { readOnly: true });
    try {
      const [measured] = await calibrate(db);
      const committed = readCalibrations(LAB_COSTS_FILE).find((c) => c.sources[0] === trace)!;
      expect(fs.existsSync(path.join(ROOT, trace))).toBe(true);
      expect(measured.samples).toEqual(committed.samples);
      expect(measured.costs).toEqual(committed.costs);
    } finally {
      db.close();
    }
  });
});
