// The lab's calibrations (lab-costs.json, written by `mmreplay synth --calibrate` from the lab's
// race-dontneed traces; test/synth.calibration.test.ts measures them again and compares). Each
// run is its own machine speed under TCG, so each trace is calibrated on its own.
import fs from 'node:fs';
import path from 'node:path';
import type { Calibration } from './costs.js';

export const LAB_COSTS_FILE = path.join(import.meta.dirname, 'lab-costs.json');

/** Reads a calibration file (`mmreplay synth --calibrate` output). */
export function readCalibrations(file: string): Calibration[] {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { runs: Calibration[] }).runs;
}

/** The lab runs by name: `6.12` (traces/lab/6.12/race-dontneed), `6.12-r2` (.../6.12-r2/race-dontneed/A). */
export const LAB_RUNS: Record<string, Calibration> = Object.fromEntries(
  readCalibrations(LAB_COSTS_FILE).map((c) => [
    /traces\/lab\/([^/]+)\//.exec(c.sources[0])?.[1] ?? c.sources[0],
    c,
  ]),
);

/** The default: the first 6.12 record (30 requests per size, the larger sample). */
export const LAB_CALIBRATION: Calibration = LAB_RUNS['6.12'];
