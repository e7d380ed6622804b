// `npm run bench:ingest`: ingest throughput, CPU and peak memory, each input in its own process,
// beside the tool that turns the same binary trace into text, in one table:
//
// - text (tracefs, trace-cmd report, perf script): the stress capture (traces/host/stress:
//   329,647 events in each format) repeated past BENCH_MB (default 100) MB; MB/s against
//   `trace-cmd report` producing text from the stress run's .dat (its MB/s of text out);
// - the stress run's .dat itself (330,000 events: start-up weighs as much as throughput), events/s
//   against `trace-cmd report` on that file;
// - a .dat recorded here, a few million events (a tracefs instance's kmem/exceptions/tlb/pagemap
//   events of a process touching BENCH_DAT_MB of memory, read out by `trace-cmd extract`), events/s
//   against `trace-cmd report` on it; left out, and said, where tracing cannot be set up;
// - a perf.data, events/s against `perf script` on that file: one recorded here (`perf record` of
//   the same events of a process touching BENCH_PERF_MB of memory) when perf can record, else the
//   largest bundled one (traces/host/*/perf.data, a few hundred events: start-up costs dominate
//   both sides).
// BENCH_TEXT=0 leaves the text rows out.
//
// The recorded process maps each 4 MB buffer afresh (MALLOC_MMAP_THRESHOLD_): with glibc's default
// it reused its heap, and 1000 MB touched made ~135,000 events instead of ~1.3 M.
//
// Each reference runs three times, best taken. `s` and the rates are the ingest() call alone
// (start-up and module loading left out); `CPU s` is all of the process's threads for that call
// (the parsing worker's included), `proc CPU s` the whole process, start-up included.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
// The children run the built code (bench/ingest-child.mjs), as the CLI does.
execFileSync(process.execPath, [path.join(ROOT, 'scripts/ensure-built.mjs')], { stdio: 'inherit' });
const HOST = path.join(ROOT, 'traces/host');
const STRESS = path.join(HOST, 'stress');
const targetMb = Number(process.env.BENCH_MB ?? 100);
const perfMb = Number(process.env.BENCH_PERF_MB ?? 1000);
const datMb = Number(process.env.BENCH_DAT_MB ?? 2000);
/** BENCH_TEXT=0 leaves out the text rows (the binary ones alone). */
const withText = process.env.BENCH_TEXT !== '0';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-bench-'));

/** The events both recordings take (traces/host/capture.sh's mm events, in part). */
const EVENTS = [
  'kmem:mm_page_alloc',
  'kmem:mm_page_free',
  'kmem:rss_stat',
  'exceptions:page_fault_user',
  'tlb:tlb_flush',
  'pagemap:mm_lru_insertion',
];

/** node touching `mb` of memory, each 4 MB in a mapping of its own (faulted in, unmapped). */
function touchArgs(mb: number): string[] {
  return ['-e', `for (let i = 0; i < ${Math.ceil(mb / 4)}; i++) Buffer.alloc(4 << 20).fill(1)`];
}
const touchEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: String(64 << 10) };

const xzText = (file: string) => execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 });

/** The stress capture's text in one format, repeated until it passes the target size. */
function build(name: string, base: string): { file: string; bytes: number } {
  const unit = xzText(path.join(STRESS, `${base}.xz`));
  const file = path.join(tmp, name);
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  while (bytes < targetMb * 1e6) {
    fs.writeSync(fd, unit);
    bytes += unit.length;
  }
  fs.closeSync(fd);
  return { file, bytes };
}

interface Run {
  seconds: number;
  cpuSeconds: number;
  ingestCpuSeconds: number;
  maxRssMb: number;
  events: number;
}

function runIngest(file: string): Run {
  const db = path.join(tmp, 'bench.duckdb');
  fs.rmSync(db, { force: true });
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench/ingest-child.mjs'), file, db], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  if (r.status !== 0) throw new Error(`ingest failed: ${r.stderr}`);
  fs.rmSync(db, { force: true });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
}

/** A tool's best of three: seconds and what it printed. */
function best(cmd: string, args: string[]): { seconds: number; out: Buffer } | null {
  if (spawnSync(cmd, ['--version']).error) return null;
  let seconds = Infinity;
  let out = Buffer.alloc(0);
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { maxBuffer: 1 << 30 });
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
    out = r.stdout;
  }
  return { seconds, out };
}

/** Lines that are events (not blank, not trace-cmd's `cpus=` header). */
function eventLines(out: Buffer): number {
  let n = 0;
  for (const l of out.toString('latin1').split('\n')) if (l && !l.startsWith('cpus=')) n++;
  return n;
}

const fmt = (x: number, d = 1) => x.toFixed(d);

function row(input: string, bytes: number, r: Run): Record<string, string> {
  return {
    input,
    MB: fmt(bytes / 1e6),
    events: String(r.events),
    s: fmt(r.seconds, 2),
    'CPU s': fmt(r.ingestCpuSeconds, 2),
    'proc CPU s': fmt(r.cpuSeconds, 2),
    'MB/s': fmt(bytes / 1e6 / r.seconds),
    'Mevents/s': fmt(r.events / r.seconds / 1e6, 3),
    'peak RSS MB': fmt(r.maxRssMb, 0),
  };
}

const rows: Record<string, string>[] = [];
const notes: string[] = [];

// The reference for text: trace-cmd report producing the stress run's text from its .dat.
const dat = path.join(tmp, 'stress.dat');
fs.writeFileSync(dat, xzText(path.join(STRESS, 'trace.dat.xz')));
const report = best('trace-cmd', ['report', '-i', dat]);
const reportMbps = report ? report.out.length / 1e6 / report.seconds : null;
const reportEps = report ? eventLines(report.out) / report.seconds : null;
if (report && reportMbps && reportEps)
  notes.push(
    `trace-cmd report -i stress.dat: ${fmt(report.out.length / 1e6)} MB of text, ${eventLines(report.out)} events in ${fmt(report.seconds, 2)} s: ${fmt(reportMbps)} MB/s, ${fmt(reportEps / 1e6, 3)} Mevents/s`,
  );
else notes.push('trace-cmd not installed: no reference for text and .dat');

const TEXT = [
  ['tracefs trace text', 'big-trace.txt', 'trace.txt'],
  ['trace-cmd report text', 'big-report.txt', 'report.txt'],
  ['perf script text', 'big-perf.txt', 'perf-script.txt'],
] as const;
for (const [label, name, base] of withText ? TEXT : []) {
  const { file, bytes } = build(name, base);
  const r = runIngest(file);
  const mbps = bytes / 1e6 / r.seconds;
  rows.push({
    ...row(label, bytes, r),
    reference: 'trace-cmd report MB/s',
    'ref rate': reportMbps ? fmt(reportMbps) : 'n/a',
    ratio: reportMbps ? `${fmt(mbps / reportMbps, 2)}x` : 'n/a',
  });
  fs.rmSync(file);
}

{
  const r = runIngest(dat);
  const eps = r.events / r.seconds;
  rows.push({
    ...row('trace-cmd .dat (stress)', fs.statSync(dat).size, r),
    reference: 'trace-cmd report Mev/s',
    'ref rate': reportEps ? fmt(reportEps / 1e6, 3) : 'n/a',
    ratio: reportEps ? `${fmt(eps / reportEps, 2)}x` : 'n/a',
  });
}

{
  const recorded = recordDat();
  if ('none' in recorded) notes.push(`no recorded .dat: ${recorded.none}`);
  else {
    const { file } = recorded;
    const r = runIngest(file);
    const ref = best('trace-cmd', ['report', '-i', file]);
    const refEps = ref ? eventLines(ref.out) / ref.seconds : null;
    const eps = r.events / r.seconds;
    rows.push({
      ...row(`.dat (recorded here, ${datMb} MB touched)`, fs.statSync(file).size, r),
      reference: 'trace-cmd report Mev/s',
      'ref rate': refEps ? fmt(refEps / 1e6, 3) : 'n/a',
      ratio: refEps ? `${fmt(eps / refEps, 2)}x` : 'n/a',
    });
    if (ref)
      notes.push(
        `trace-cmd report -i recorded.dat: ${eventLines(ref.out)} events in ${fmt(ref.seconds, 2)} s`,
      );
    fs.rmSync(file);
  }
}

{
  const perfData = recordPerf() ?? largestBundledPerf();
  const r = runIngest(perfData.file);
  const ref = best('perf', ['script', '-i', perfData.file]);
  const refEps = ref ? eventLines(ref.out) / ref.seconds : null;
  const eps = r.events / r.seconds;
  rows.push({
    ...row(`perf.data (${perfData.what})`, fs.statSync(perfData.file).size, r),
    reference: 'perf script Mev/s',
    'ref rate': refEps ? fmt(refEps / 1e6, 3) : 'n/a',
    ratio: refEps ? `${fmt(eps / refEps, 2)}x` : 'n/a',
  });
  if (ref)
    notes.push(
      `perf script -i ${perfData.what}: ${eventLines(ref.out)} events in ${fmt(ref.seconds, 2)} s`,
    );
}

console.table(rows);
for (const n of notes) console.log(n);
console.log(
  `ratios: text MB/s ingested / trace-cmd report's MB/s of text produced; binary: events/s ingested / events/s the tool prints; load average at the end ${os
    .loadavg()
    .map((x) => fmt(x, 2))
    .join(' ')} on ${os.cpus().length} CPUs`,
);
fs.rmSync(tmp, { recursive: true, force: true });

/** perf record of a process touching perfMb of memory, when perf can record here. */
function recordPerf(): { file: string; what: string } | null {
  const file = path.join(tmp, 'perf.data');
  const r = spawnSync(
    'perf',
    [
      'record',
      '-q',
      '-m',
      '2048',
      '-e',
      EVENTS.join(','),
      '-o',
      file,
      '--',
      process.execPath,
      ...touchArgs(perfMb),
    ],
    { encoding: 'utf8', env: touchEnv },
  );
  if (r.error || r.status !== 0 || !fs.existsSync(file)) return null;
  return { file, what: `recorded here, ${perfMb} MB touched` };
}

/**
 * A .dat of a process touching datMb of memory: a tracefs instance of its own (as capture.sh
 * records; `trace-cmd record` cannot switch ftrace on where /proc/sys/kernel/ftrace_enabled is
 * read-only) tracing that process alone (set_event_pid), read out by `trace-cmd extract`. Its
 * path, or why there is none.
 */
function recordDat(): { file: string } | { none: string } {
  const tracefs = '/sys/kernel/tracing';
  const name = `mmreplay-bench-${process.pid}`;
  const inst = path.join(tracefs, 'instances', name);
  const file = path.join(tmp, 'recorded.dat');
  try {
    fs.mkdirSync(inst);
  } catch (e) {
    return { none: `cannot make a tracefs instance (${(e as Error).message})` };
  }
  try {
    const put = (f: string, v: string) => fs.writeFileSync(path.join(inst, f), v);
    put('tracing_on', '0');
    // ~40 bytes an event, ~5 events a page touched: 2000 MB fills ~100 MB, mostly on one CPU.
    put('buffer_size_kb', String(Math.max(65536, Math.ceil(datMb * 80))));
    put('options/event-fork', '1');
    for (const e of EVENTS) put(`events/${e.replace(':', '/')}/enable`, '1');
    // The shell traces itself from here on, and the node it becomes.
    const sh = `echo $$ > ${inst}/set_event_pid && echo 1 > ${inst}/tracing_on && exec "$0" "$@"`;
    const r = spawnSync('sh', ['-c', sh, process.execPath, ...touchArgs(datMb)], {
      encoding: 'utf8',
      env: touchEnv,
    });
    put('tracing_on', '0');
    if (r.status !== 0) return { none: `the recorded process failed: ${r.stderr}` };
    const x = spawnSync('trace-cmd', ['extract', '-B', name, '-o', file], {
      encoding: 'utf8',
      cwd: tmp,
    });
    if (x.error || x.status !== 0 || !fs.existsSync(file))
      return { none: `trace-cmd extract failed: ${x.error?.message ?? x.stderr}` };
    return { file };
  } finally {
    // trace-cmd extract removes the instance it read; not when it failed.
    if (fs.existsSync(inst)) fs.rmdirSync(inst);
  }
}

function largestBundledPerf(): { file: string; what: string } {
  const all = fs
    .readdirSync(HOST)
    .map((d) => path.join(HOST, d, 'perf.data'))
    .filter((f) => fs.existsSync(f));
  const file = all.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
  return { file, what: path.relative(ROOT, file) };
}
