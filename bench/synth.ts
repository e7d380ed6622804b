// `npm run bench:synth [-- --events N] [--format dat]`: generates a synthetic DONTNEED race of N
// events (default 10^8; BENCH_SYNTH_EVENTS also sets it), ingests it and replays it, each phase in
// its own process, and prints events/s and peak RSS per phase, RSS at each quarter of the replay,
// and how many requests and pages of the ground truth the replay reproduced. The trace is written
// gzip'ed (a text trace of 10^8 events is ~20 GB), or as a trace-cmd .dat (`--format dat`, ~57
// bytes an event), into the OS temp dir, removed at the end.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { opt } from './args.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const i = process.argv.indexOf('--events');
const target = Number(
  i > 0 ? process.argv[i + 1] : (process.env.BENCH_SYNTH_EVENTS ?? 100_000_000),
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-bench-synth-'));
const trace = path.join(tmp, opt('--format') === 'dat' ? 'synth.dat' : 'synth.txt.gz');
const db = path.join(tmp, 'synth.duckdb');

function child(script: string, args: string[]): Record<string, number> & { first?: unknown } {
  const out = execFileSync(
    process.execPath,
    [...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), path.join(ROOT, script), ...args],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 },
  );
  return JSON.parse(out.trim().split('\n').pop()!);
}

try {
  const g = child('bench/synth-child.ts', ['generate', trace, String(target), '1']);
  console.log(
    `generated ${g.events} events (${g.requests} requests, ${g.pages} pages), ${(g.bytes / 1e6).toFixed(0)} MB ${trace.endsWith('.dat') ? 'trace-cmd .dat' : "text gzip'ed"}`,
  );
  const n = child('bench/ingest-child.mjs', [trace, db]);
  fs.rmSync(trace);
  const r = child('bench/synth-child.ts', ['replay', db, trace]);
  const row = (phase: string, x: Record<string, number>, events: number) => ({
    phase,
    events,
    seconds: x.seconds.toFixed(1),
    'CPU s': x.cpuSeconds.toFixed(1),
    'events/s': Math.round(events / x.seconds),
    'peak RSS MB': Math.round(x.maxRssMb),
  });
  console.table([
    row('generate', g, g.events),
    row('ingest', n, n.events),
    row('replay', r, r.events),
  ]);
  const total = g.seconds + n.seconds + r.seconds;
  console.log(
    `end to end: ${g.events} events in ${total.toFixed(1)} s, ${Math.round(g.events / total)} events/s; unparsed lines: ${n.unparsed}`,
  );
  console.log(
    `replay RSS MB at 25/50/75/100 % of its events: ${(r.rssAt as unknown as number[]).map((x) => x.toFixed(0)).join(' / ')} (the model thread's heap: ${(r.heapAt as unknown as number[]).map((x) => x.toFixed(0)).join(' / ')})`,
  );
  console.log(
    `ground truth reproduced: ${r.requests} requests and ${r.pages} pages compared, ${r.mismatches} mismatches${r.mismatches ? ` (first: ${JSON.stringify(r.first)})` : ''}, ${r.explained} on known replay gaps`,
  );
  if (r.mismatches || n.unparsed) process.exitCode = 1;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
