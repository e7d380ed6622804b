// `npm run bench:startup`: how long `mmreplay --help` takes to return, through bin/mmreplay.js on the
// built JavaScript (dist/, built first if stale), beside the same help compiled on the fly by tsx
// (the development path, and what bin/ ran before) and a bare `node -e 0` (the floor on this machine
// at this moment). Wall time (median and best of N) and the children's CPU time (user + sys, from
// /proc/self/stat), which a busy machine inflates less than wall time.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { distIsFresh } from '../scripts/dist-fresh.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const N = Number(process.env.STARTUP_RUNS ?? 10);
if (!distIsFresh())
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });

/** This process's children's CPU time so far (s): cutime + cstime of /proc/self/stat. */
function childCpu(): number {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

function time(label: string, cmd: string, args: string[]) {
  const walls: number[] = [];
  const cpu0 = childCpu();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    walls.push((performance.now() - t0) / 1000);
    if (r.status !== 0) throw new Error(`${label}: exit ${r.status}: ${r.stderr}`);
  }
  walls.sort((a, b) => a - b);
  const cpu = (childCpu() - cpu0) / N;
  process.stdout.write(
    `${label.padEnd(44)} median ${walls[N >> 1].toFixed(3)} s, best ${walls[0].toFixed(3)} s, CPU ${cpu.toFixed(3)} s\n`,
  );
}

process.stdout.write(
  `startup, ${N} runs each (load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}):\n`,
);
time('mmreplay --help (bin/, built dist/)', path.join(ROOT, 'bin/mmreplay.js'), ['--help']);
time('mmreplay --help (tsx, compiled on each run)', process.execPath, [
  '--import',
  'tsx',
  'cli/main.ts',
  '--help',
]);
time('node -e 0 (the floor)', process.execPath, ['-e', '0']);
