// One fuzzing worker (bench/fuzz.ts forks one per core): runs the batches it is sent, one at a
// time, in this process (corpus, modules and catalogue loaded once), and reports each. An
// exception that escapes a batch's promise kills the worker, which the parent counts as a crash.
import fs from 'node:fs';
import path from 'node:path';
import { type FuzzOptions, batchSeed, loadCorpus, rng, runBatch, tempDir } from './fuzz-core.js';

export interface BatchJob {
  seed: number;
  batch: number;
  traces: number;
  opts: FuzzOptions;
  crashDir: string;
}

export interface BatchReport {
  batch: number;
  traces: number;
  /** The error's message (typed) or its first stack lines (a crash), null when the batch ran clean. */
  error: string | null;
  typed: boolean;
  /** Where a crashing batch's trace was kept. */
  kept: string | null;
  seconds: number;
}

const corpus = loadCorpus();
const dir = tempDir();
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
process.on('disconnect', () => process.exit(0));
if (process.connected) process.send!({ dir });
process.on('message', (job: BatchJob) => {
  void (async () => {
    const res = await runBatch(
      corpus,
      job.traces,
      rng(batchSeed(job.seed, job.batch)),
      dir,
      job.opts,
    );
    let kept: string | null = null;
    if (res.error && !res.typed) {
      fs.mkdirSync(job.crashDir, { recursive: true });
      kept = path.join(job.crashDir, `crash-${job.seed}-${job.batch}${path.extname(res.file)}`);
      fs.copyFileSync(res.file, kept);
    }
    const error = res.error
      ? res.typed
        ? res.error.message
        : (res.error.stack ?? String(res.error)).split('\n').slice(0, 4).join(' | ')
      : null;
    const report: BatchReport = {
      batch: job.batch,
      traces: res.traces,
      error,
      typed: res.typed,
      kept,
      seconds: res.seconds,
    };
    process.send!(report);
  })();
});
