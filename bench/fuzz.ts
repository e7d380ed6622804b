// `npm run fuzz [-- --traces N] [--batch K] [--workers W] [--seed S] [--lines MIN-MAX] [--only B]`:
// ingest plus replay, in process, over N mutated windows (MIN to MAX lines, default 20-300) of the
// real traces in traces/host (default 10^6), K to a batch file (default 1000), on W worker
// processes (default one per core), each reusing its process, corpus and temporary file across
// batches. Counts typed errors (with a location) and crashes (anything else, a worker that dies
// included), and keeps each crashing batch in out/fuzz-crashes/ with its seed and number. Batch B
// of seed S is generated from (S, B) alone, so `--seed S --only B` runs it again by itself.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS } from './fuzz-core.js';
import type { BatchJob, BatchReport } from './fuzz-worker.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const total = arg('traces', 1_000_000);
const batch = arg('batch', 1000);
const seed = arg('seed', Date.now() % 1e9);
const only = arg('only', -1);
const linesArg = process.argv.indexOf('--lines');
const [minLines, maxLines] =
  linesArg >= 0
    ? process.argv[linesArg + 1].split('-').map(Number)
    : [DEFAULTS.minLines, DEFAULTS.maxLines];
const opts = { ...DEFAULTS, minLines, maxLines };
const crashDir = path.resolve('out/fuzz-crashes');

// The batches to run: every one of the N traces, or one batch again.
const jobs: BatchJob[] = [];
if (only >= 0) jobs.push({ seed, batch: only, traces: batch, opts, crashDir });
else
  for (let b = 0, done = 0; done < total; b++, done += batch)
    jobs.push({ seed, batch: b, traces: Math.min(batch, total - done), opts, crashDir });
const workers = Math.max(1, Math.min(arg('workers', os.availableParallelism()), jobs.length));

let done = 0;
let typed = 0;
let crashes = 0;
let batches = 0;
const messages = new Map<string, number>();
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
process.stdout.write(
  `fuzz: seed ${seed}, ${total} mutated traces of ${minLines}-${maxLines} lines in ${jobs.length} batches of ${batch}, ${workers} workers\n`,
);

const report = (r: BatchReport) => {
  done += r.traces;
  batches++;
  if (r.error && r.typed) {
    typed++;
    const key = r.error
      .replace(/^\S+?(:\d+)?: /, '')
      .replace(/\d+/g, 'N')
      .slice(0, 100);
    // The first of each kind as it happens, so a long run's log says what it met so far.
    if (!messages.has(key))
      process.stdout.write(`typed error in batch ${r.batch} (first of its kind): ${r.error}\n`);
    messages.set(key, (messages.get(key) ?? 0) + 1);
  } else if (r.error) {
    crashes++;
    process.stdout.write(
      `crash in batch ${r.batch} (seed ${seed}, kept ${r.kept ?? 'nothing'}): ${r.error}\n`,
    );
  }
  if (process.env.FUZZ_VERBOSE)
    process.stdout.write(
      `batch ${r.batch}: ${r.seconds.toFixed(2)} s ${r.error ? (r.typed ? 'typed' : 'CRASH') : 'ok'}\n`,
    );
  if (batches % 20 === 0 || batches === jobs.length) {
    const s = elapsed();
    process.stdout.write(
      `${done} traces, ${batches} batches, ${typed} typed errors, ${crashes} crashes, ${(done / s).toFixed(0)} traces/s, ${s.toFixed(0)} s\n`,
    );
  }
};

/** Keeps the newest batch file in a dead worker's directory (then removes the directory). */
function keepLast(dir: string | null, job: BatchJob): string | null {
  if (!dir || !fs.existsSync(dir)) return null;
  const files = fs
    .readdirSync(dir)
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  let kept: string | null = null;
  if (files.length) {
    fs.mkdirSync(job.crashDir, { recursive: true });
    kept = path.join(job.crashDir, `crash-${job.seed}-${job.batch}${path.extname(files[0])}`);
    fs.copyFileSync(files[0], kept);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return kept;
}

/** One worker process: takes the next batch whenever it reports the last; a death is a crash. */
const runWorker = () =>
  new Promise<void>((resolve) => {
    let current: BatchJob | undefined;
    const child = fork(path.join(import.meta.dirname, 'fuzz-worker.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const next = () => {
      current = jobs.shift();
      if (current) child.send(current);
      else child.disconnect();
    };
    // The worker's batch directory (its first message): what a worker that dies leaves there is
    // the batch it died on.
    let dir: string | null = null;
    child.on('message', (r: BatchReport | { dir: string }) => {
      if ('dir' in r) {
        dir = r.dir;
        return;
      }
      report(r);
      next();
    });
    child.on('exit', (code, signal) => {
      if (current && (code !== 0 || signal)) {
        const kept = keepLast(dir, current);
        report({
          batch: current.batch,
          traces: current.traces,
          error: `worker died (${signal ?? `exit ${code}`})`,
          typed: false,
          kept,
          seconds: 0,
        });
        // The rest goes to a fresh worker.
        if (jobs.length) void runWorker().then(resolve);
        else resolve();
      } else resolve();
    });
    next();
  });

await Promise.all(Array.from({ length: workers }, runWorker));
process.stdout.write(
  `typed errors by message:\n${[...messages]
    .sort((a, b) => b[1] - a[1])
    .map(([m, n]) => `  ${n}  ${m}`)
    .join('\n')}\n`,
);
process.stdout.write(
  `done: ${done} mutated traces in ${elapsed().toFixed(0)} s (${(done / elapsed()).toFixed(0)} traces/s, ${workers} workers), ${crashes} crashes (uncaught exceptions), ${typed} typed errors\n`,
);
process.exitCode = crashes ? 1 : 0;
