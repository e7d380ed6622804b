// `npm run bench`: ingest throughput and peak memory on >= 100 MB of real trace text, beside
// `trace-cmd report` turning the same kind of trace (.dat) into text on this machine.
//
// The big input repeats the stress capture (traces/host/stress: 329,647 events, in tracefs,
// trace-cmd report and perf script text) until it passes the target size; it lives in the OS
// temp dir, not the repo. The reference is trace-cmd report on the same run's .dat.
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

const STRESS = path.join(HOST, 'stress');

/** The stress capture's text in one format, repeated until it passes the target size. */
function build(name: string, base: string): { file: string; bytes: number } {
  const unit = text(path.join(STRESS, `${base}.xz`));
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

interface Run {
  seconds: number;
  cpuSeconds: number;
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

/** trace-cmd report turning the same run's .dat into text: the reference, best of three. */
function traceCmdReport(): { mbps: number; note: string } | null {
  if (spawnSync('trace-cmd', ['--version']).error) return null;
  const dat = path.join(tmp, 'stress.dat');
  fs.writeFileSync(dat, execFileSync('xz', ['-dc', path.join(STRESS, 'trace.dat.xz')], { maxBuffer: 1 << 30 }));
  let best = Infinity;
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('trace-cmd', ['report', '-i', dat], { maxBuffer: 1 << 30 });
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    bytes = r.stdout.length;
  }
  return { mbps: bytes / 1e6 / best, note: `traces/host/stress/trace.dat: ${(bytes / 1e6).toFixed(1)} MB of text in ${best.toFixed(2)} s` };
}

function benchDat(): Record<string, string> | null {
  const dat = path.join(tmp, 'stress-ingest.dat');
  fs.writeFileSync(dat, execFileSync('xz', ['-dc', path.join(STRESS, 'trace.dat.xz')], { maxBuffer: 1 << 30 }));
  const bytes = fs.statSync(dat).size;
  const r = runIngest(dat);
  let reportEps: number | null = null;
  if (!spawnSync('trace-cmd', ['--version']).error) {
    let best = Infinity;
    let events = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      const out = spawnSync('trace-cmd', ['report', '-i', dat], { maxBuffer: 1 << 30 });
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
      events = out.stdout.toString('latin1').split('\n').filter((l) => l && !l.startsWith('cpus=')).length;
    }
    reportEps = events / best;
  }
  fs.rmSync(dat);
  const eps = r.events / r.seconds;
  return {
    input: 'trace-cmd .dat (binary)',
    MB: (bytes / 1e6).toFixed(1),
    events: String(r.events),
    s: r.seconds.toFixed(1),
    'CPU s': r.cpuSeconds.toFixed(1),
    'MB/s': (bytes / 1e6 / r.seconds).toFixed(1),
    'Mevents/s': (eps / 1e6).toFixed(2),
    'peak RSS MB': r.maxRssMb.toFixed(0),
    'trace-cmd report Mevents/s': reportEps ? (reportEps / 1e6).toFixed(2) : 'n/a',
    'vs trace-cmd report': reportEps ? `${(eps / reportEps).toFixed(2)}x` : 'n/a',
  };
}

const rows: Record<string, string>[] = [];
const ref = traceCmdReport();
for (const [label, name, base] of [
  ['tracefs trace text', 'big-trace.txt', 'trace.txt'],
  ['trace-cmd report text', 'big-report.txt', 'report.txt'],
  ['perf script text', 'big-perf.txt', 'perf-script.txt'],
] as const) {
  const { file, bytes } = build(name, base);
  const r = runIngest(file);
  const mbps = bytes / 1e6 / r.seconds;
  rows.push({
    input: label,
    MB: (bytes / 1e6).toFixed(0),
    events: String(r.events),
    's': r.seconds.toFixed(1),
    'CPU s': r.cpuSeconds.toFixed(1),
    'MB/s': mbps.toFixed(1),
    'Mevents/s': (r.events / r.seconds / 1e6).toFixed(2),
    'peak RSS MB': r.maxRssMb.toFixed(0),
    'vs trace-cmd report': ref ? `${(mbps / ref.mbps).toFixed(2)}x` : 'n/a',
  });
  fs.rmSync(file);
}
// The binary reader on the stress run's own .dat, against trace-cmd report reading the same
// file (events per second: the two produce different things from the same input).
const datRow = benchDat();
console.table(rows);
if (datRow) console.table([datRow]);
if (ref) console.log(`trace-cmd report (.dat -> text): ${ref.mbps.toFixed(1)} MB/s of text (${ref.note}); ratio = our MB/s of text ingested / its MB/s of text produced`);
else console.log('trace-cmd not installed: no reference ratio');
fs.rmSync(tmp, { recursive: true, force: true });
