// `npm run bench:replay`: replays >= 10 M events and prints events/s, peak RSS and RSS at each
// quarter of the events, for the replay of the baseline commit (BASELINE, the last before the
// replay's input and output moved to a worker thread) and for this tree, in the same run, each on
// its own copy of the same database, one after the other.
// The input repeats the stress capture (traces/host/stress, 329,647 real events) with each copy's
// pids shifted, so every copy is a new set of processes; it lives in the OS temp dir.
// BENCH_DB=FILE keeps the ingested database there and, when it exists, replays copies of it
// without building and ingesting again. BENCH_BASE=REV replays another commit as the baseline;
// BENCH_BASE=none skips it (then the baseline's figure measured when this bench was written is
// printed instead, marked as such).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
// This tree's replay runs built (dist/), as the CLI runs it: under tsx its I/O worker would compile
// its modules inside the measured replay.
execFileSync(process.execPath, [path.join(ROOT, 'scripts/ensure-built.mjs')], { stdio: 'inherit' });
/** The replay before issue 15's speed work. */
const BASELINE = '44ad950';
/** BASELINE's figure on this bench (2026-12-06, 2-core VM shared with another job), for BENCH_BASE=none. */
const BASELINE_FIGURE = { 'events/s': 326_451, 'peak RSS MB': 372 };
const target = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const keep = process.env.BENCH_DB;
const base = process.env.BENCH_BASE ?? BASELINE;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-bench-replay-'));
const db = keep ? path.resolve(keep) : path.join(tmp, 'bench.duckdb');
try {
  if (!keep || !fs.existsSync(db)) ingestInput();
  const rows: Record<string, string | number>[] = [];
  if (base !== 'none') {
    const tree = path.join(tmp, 'base');
    fs.mkdirSync(tree);
    execFileSync('sh', [
      '-c',
      `git -C '${ROOT}' archive '${base}' src package.json | tar -x -C '${tree}'`,
    ]);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
    rows.push(row(`baseline ${base}`, run(path.join(tree, 'src/replay/replay.ts'), 'tsx')));
  } else rows.push({ replay: `baseline ${BASELINE} (figure measured then)`, ...BASELINE_FIGURE });
  rows.push(row('this tree', run(path.join(ROOT, 'dist/src/replay/replay.js'))));
  console.table(rows);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

/**
 * One measured replay of a fresh copy of the database, in its own process (peak RSS is its own):
 * `module`'s replay, through tsx when `loader` says so.
 */
function run(module: string, loader = '') {
  const copy = path.join(tmp, 'replay.duckdb');
  fs.copyFileSync(db, copy);
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bench/replay-child.mjs'), copy, pathToFileURL(module).href, loader],
    { encoding: 'utf8', cwd: ROOT },
  );
  fs.rmSync(copy, { force: true });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function row(replay: string, res: Record<string, never>) {
  return {
    replay,
    events: res.events,
    seconds: (res.seconds as number).toFixed(1),
    'events/s': Math.round(res.events / res.seconds),
    // CPU seconds of all the process's threads: steadier than wall time on a shared machine.
    'CPU s': (res.cpuSeconds as number | undefined)?.toFixed(1) ?? '',
    'peak RSS MB': (res.maxRssMb as number).toFixed(0),
    // RSS after 25/50/75/100 % of the events: flat when memory follows live state, not trace length.
    'RSS MB at 25/50/75/100 %': (res.rssAt as number[]).map((x) => x.toFixed(0)).join(' / '),
  };
}

function ingestInput(): void {
  const unit = execFileSync('xz', ['-dc', path.join(ROOT, 'traces/host/stress/trace.txt.xz')], {
    maxBuffer: 1 << 30,
  }).toString();
  const lines = unit.split('\n').filter((l) => l && !l.startsWith('#'));
  const copies = Math.ceil(target / lines.length);
  const file = path.join(tmp, 'stress-x.txt');
  const fd = fs.openSync(file, 'w');
  const LINE = /^(\s*.*?-)(\d+)(\s+\[\d+\]\s+\S+\s+)(\d+)\.(\d+)(:.*)$/;
  const spanNs = 10_000_000_000n;
  for (let c = 0; c < copies; c++) {
    const out: string[] = [];
    for (const l of lines) {
      const m = LINE.exec(l);
      if (!m) continue;
      // Shift pids (and pid fields in the text) by 100000 per copy, and time by 10 s per copy.
      const shift = (n: string) => String(Number(n) + c * 100000);
      const ns = BigInt(m[4]) * 1_000_000_000n + BigInt(m[5].padEnd(9, '0')) + BigInt(c) * spanNs;
      const body = m[6].replace(/\b(pid|child_pid)=(\d+)/g, (_s, k, v) => `${k}=${shift(v)}`);
      out.push(
        `${m[1]}${shift(m[2])}${m[3]}${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0').slice(0, 6)}${body}`,
      );
    }
    fs.writeSync(fd, out.join('\n') + '\n');
  }
  fs.closeSync(fd);
  console.log(
    `input: ${copies} shifted copies of traces/host/stress (${(fs.statSync(file).size / 1e6).toFixed(0)} MB)`,
  );
  execFileSync(process.execPath, [path.join(ROOT, 'bench/ingest-child.mjs'), file, db], {
    stdio: 'inherit',
    cwd: ROOT,
  });
}
