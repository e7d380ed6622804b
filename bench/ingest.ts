// `npm run bench`: ingest throughput and peak memory on >= 100 MB of real trace text, beside
// `trace-cmd report` turning the same kind of trace (.dat) into text on this machine.
//
// The big input repeats the captured traces of traces/host (tracefs text, trace-cmd report and
// perf script shapes) until it passes the target size; it lives in the OS temp dir, not the repo.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const HOST = path.join(ROOT, 'traces/host');
const targetMb = Number(process.env.BENCH_MB ?? 100);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-bench-'));

function text(file: string): string {
  return file.endsWith('.xz') ? execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 }).toString() : fs.readFileSync(file, 'utf8');
}

function build(name: string, pick: (dir: string) => string | undefined): { file: string; bytes: number } {
  const parts: string[] = [];
  for (const d of fs.readdirSync(HOST)) {
    const dir = path.join(HOST, d);
    if (!fs.statSync(dir).isDirectory()) continue;
    const f = pick(dir);
    if (f) parts.push(text(f));
  }
  const unit = parts.join('');
  const file = path.join(tmp, name);
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  while (bytes < targetMb * 1e6) {
    fs.writeSync(fd, unit);
    bytes += Buffer.byteLength(unit);
  }
  fs.closeSync(fd);
  return { file, bytes };
}

const existing = (dir: string, base: string) => ['', '.xz'].map((e) => path.join(dir, base + e)).find((p) => fs.existsSync(p));

interface Run {
  seconds: number;
  maxRssMb: number;
  events: number;
}

function runIngest(file: string): Run {
  const db = path.join(tmp, 'bench.duckdb');
  fs.rmSync(db, { force: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/ingest-child.ts'), file, db], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`ingest failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
}

function traceCmdReport(): { mbps: number; note: string } | null {
  const dats = fs
    .readdirSync(HOST)
    .map((d) => existing(path.join(HOST, d), 'trace.dat'))
    .filter((x): x is string => !!x);
  if (!dats.length || spawnSync('trace-cmd', ['--version']).error) return null;
  let bytes = 0;
  let secs = 0;
  for (const dat of dats) {
    let input = dat;
    if (dat.endsWith('.xz')) {
      input = path.join(tmp, 'ref.dat');
      fs.writeFileSync(input, execFileSync('xz', ['-dc', dat], { maxBuffer: 1 << 30 }));
    }
    // Repeat small files so the timing is not all process start-up.
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      const out = execFileSync('trace-cmd', ['report', '-i', input], { maxBuffer: 1 << 30 });
      secs += Number(process.hrtime.bigint() - t0) / 1e9;
      bytes += out.length;
    }
  }
  return { mbps: bytes / 1e6 / secs, note: `${dats.length} .dat files from traces/host, 5 runs each, ${(bytes / 1e6).toFixed(1)} MB of text` };
}

const rows: Record<string, string>[] = [];
const ref = traceCmdReport();
for (const [label, name, base] of [
  ['tracefs trace_pipe text', 'big-trace_pipe.txt', 'trace_pipe.txt'],
  ['trace-cmd report text', 'big-report.txt', 'report.txt'],
  ['perf script text', 'big-perf.txt', 'perf-script.txt'],
] as const) {
  const { file, bytes } = build(name, (d) => existing(d, base));
  const r = runIngest(file);
  const mbps = bytes / 1e6 / r.seconds;
  rows.push({
    input: label,
    MB: (bytes / 1e6).toFixed(0),
    events: String(r.events),
    's': r.seconds.toFixed(1),
    'MB/s': mbps.toFixed(1),
    'Mevents/s': (r.events / r.seconds / 1e6).toFixed(2),
    'peak RSS MB': r.maxRssMb.toFixed(0),
    'vs trace-cmd report': ref ? `${(mbps / ref.mbps).toFixed(2)}x` : 'n/a',
  });
  fs.rmSync(file);
}
console.table(rows);
if (ref) console.log(`trace-cmd report (.dat -> text): ${ref.mbps.toFixed(1)} MB/s of text (${ref.note}); ratio = our MB/s of text ingested / its MB/s of text produced`);
else console.log('trace-cmd not installed: no reference ratio');
fs.rmSync(tmp, { recursive: true, force: true });
