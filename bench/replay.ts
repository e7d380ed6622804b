// `npm run bench:replay`: replays >= 10 M events and prints events/s, peak RSS and RSS at each
// quarter of the events.
// The input repeats the stress capture (traces/host/stress, 329,647 real events) with each copy's
// pids shifted, so every copy is a new set of processes; it lives in the OS temp dir.
// BENCH_DB=FILE keeps the ingested database there and, when it exists, replays it without
// building and ingesting again (the replay tables are recreated by each run).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const target = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const keep = process.env.BENCH_DB;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-bench-replay-'));
const db = keep ? path.resolve(keep) : path.join(tmp, 'bench.duckdb');
if (!keep || !fs.existsSync(db)) ingestInput();
const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/replay-child.ts'), db], { encoding: 'utf8', cwd: ROOT });
if (r.status !== 0) throw new Error(r.stderr);
const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
console.table([
  {
    events: res.events,
    seconds: res.seconds.toFixed(1),
    'events/s': Math.round(res.events / res.seconds),
    'peak RSS MB': res.maxRssMb.toFixed(0),
    // RSS after 25/50/75/100 % of the events: flat when memory follows live state, not trace length.
    'RSS MB at 25/50/75/100 %': res.rssAt.map((x: number) => x.toFixed(0)).join(' / '),
  },
]);
fs.rmSync(tmp, { recursive: true, force: true });

function ingestInput(): void {
  const unit = execFileSync('xz', ['-dc', path.join(ROOT, 'traces/host/stress/trace.txt.xz')], { maxBuffer: 1 << 30 }).toString();
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
      out.push(`${m[1]}${shift(m[2])}${m[3]}${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0').slice(0, 6)}${body}`);
    }
    fs.writeSync(fd, out.join('\n') + '\n');
  }
  fs.closeSync(fd);
  console.log(`input: ${copies} shifted copies of traces/host/stress (${(fs.statSync(file).size / 1e6).toFixed(0)} MB)`);
  execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/ingest-child.ts'), file, db], { stdio: 'inherit', cwd: ROOT });
}
