// `npm run fuzz [-- --traces N] [--batch K] [--seed S] [--lines MIN-MAX]`: ingest plus replay, in
// process, over N mutated windows (MIN to MAX lines, default 20-300) of the real traces in
// traces/host (default 10^6), K to a batch file; counts typed
// errors (with a location) and crashes (anything else), and keeps each crashing batch in
// out/fuzz-crashes/ with its seed.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULTS, loadCorpus, rng, runBatch, tempDir } from './fuzz-core.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const total = arg('traces', 1_000_000);
const batch = arg('batch', 200);
const seed = arg('seed', Date.now() % 1e9);
const linesArg = process.argv.indexOf('--lines');
const [minLines, maxLines] = linesArg >= 0 ? process.argv[linesArg + 1].split('-').map(Number) : [DEFAULTS.minLines, DEFAULTS.maxLines];
const opts = { ...DEFAULTS, minLines, maxLines };
const corpus = loadCorpus();
const dir = tempDir();
const crashDir = path.resolve('out/fuzz-crashes');
const r = rng(seed);
let done = 0;
let typed = 0;
let crashes = 0;
let batches = 0;
const messages = new Map<string, number>();
const t0 = performance.now();
process.stdout.write(`fuzz: seed ${seed}, ${corpus.length} source traces, ${total} mutated traces of ${minLines}-${maxLines} lines in batches of ${batch}\n`);
while (done < total) {
  const n = Math.min(batch, total - done);
  const res = await runBatch(corpus, n, r, dir, opts);
  done += n;
  batches++;
  if (res.error && res.typed) {
    typed++;
    const key = res.error.message.replace(/^\S+?(:\d+)?: /, '').replace(/\d+/g, 'N').slice(0, 100);
    messages.set(key, (messages.get(key) ?? 0) + 1);
  } else if (res.error) {
    crashes++;
    fs.mkdirSync(crashDir, { recursive: true });
    const keep = path.join(crashDir, `crash-${seed}-${batches}.txt`);
    fs.copyFileSync(res.file, keep);
    process.stdout.write(`crash in batch ${batches} (kept ${keep}): ${res.error.stack?.split('\n').slice(0, 4).join(' | ')}\n`);
  }
  if (process.env.FUZZ_VERBOSE) process.stdout.write(`batch ${batches}: ${res.seconds.toFixed(2)} s ${res.error ? (res.typed ? 'typed' : 'CRASH') : 'ok'}\n`);
  if (batches % 20 === 0 || done === total) {
    const s = (performance.now() - t0) / 1000;
    process.stdout.write(`${done} traces, ${batches} batches, ${typed} typed errors, ${crashes} crashes, ${(done / s).toFixed(0)} traces/s\n`);
  }
}
fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(`typed errors by message:\n${[...messages].sort((a, b) => b[1] - a[1]).map(([m, n]) => `  ${n}  ${m}`).join('\n')}\n`);
process.stdout.write(`done: ${done} mutated traces, ${crashes} crashes (uncaught exceptions), ${typed} typed errors\n`);
process.exitCode = crashes ? 1 : 0;
