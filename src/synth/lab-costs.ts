// The lab's calibrations (lab-costs.json, written by `mmreplay synth --calibrate` from the lab's
// race-dontneed traces; test/synth.calibration.test.ts measures them again and compares). Each
// run is its own machine speed under TCG, so each trace is calibrated on its own.
import fs from 'node:fs';
import path from 'node:path';
import type { Calibration, ContentionCalibration } from './costs.js';
// Imported, not read: the build emits it beside the compiled module.
import contention from './lab-contention.json' with { type: 'json' };

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

/**
 * What a writer waiting for the driver's read lock costs (`mmreplay synth --calibrate-contention`
 * on the lab's 6.12 race-mprotect, race-fork_exit and race-fork_write traces, pooled): the only
 * runs with mmap_lock events and a writer. Every calibration uses it unless it has its own.
 */
export const LAB_CONTENTION: ContentionCalibration = contention as ContentionCalibration;
