// `mmreplay record` on the live kernel: a private instance, removed on every exit path, and a
// trace that ingests completely. Skips (saying why) where tracefs is not writable.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ingestTemp, ROOT, tmpDir } from './helpers.js';

const BIN = path.join(ROOT, 'bin/mmreplay.js');
const INSTANCES = '/sys/kernel/tracing/instances';

function whyNotLive(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    fs.accessSync(INSTANCES, fs.constants.W_OK);
  } catch {
    return `${INSTANCES} is not writable (tracefs not mounted? mount -t tracefs nodev /sys/kernel/tracing)`;
  }
  return null;
}
const why = whyNotLive();
if (why) console.warn(`record tests skipped: ${why}`);

const dir = tmpDir();
const run = (args: string[], opts: { cwd?: string } = {}) =>
  new Promise<{ code: number | null; pid: number; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(BIN, args, { cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, pid: p.pid!, stdout, stderr }));
  });

describe.skipIf(why !== null)('mmreplay record (live)', () => {
  beforeAll(() => {
    execFileSync('make', ['-s', '-C', path.join(ROOT, 'traces/workloads')]);
  });

  it('records a workload: instance removed, 0 unparsed, every checkpoint, every logged fault address', async () => {
    const out = path.join(dir, 'anon.txt');
    const r = await run([
      'record',
      '-e',
      'mm',
      '-o',
      out,
      '--',
      path.join(ROOT, 'traces/workloads/build/anon'),
    ]);
    const wrote = /wrote .*anon\.txt and .*\((\d+) events of \d+ types, (\d+) lost/.exec(r.stderr);
    expect(wrote).not.toBeNull();
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(INSTANCES, `mmreplay-${r.pid}`))).toBe(false);

    const sidecar = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(sidecar).toMatchObject({ clock: 'mono', exit_code: 0, signal: null });
    expect(sidecar.events_placed).toContain('exceptions:page_fault_user');
    expect(sidecar.formats['exceptions:page_fault_user']).toMatch(/print fmt/);

    const { db, files } = await ingestTemp([out]);
    expect(files[0].unparsed).toBe(0);
    expect(Number(wrote![1])).toBe(files[0].events);
    const lost = await db.rows<{ n: bigint }>(
      'SELECT coalesce(sum(count), 0)::BIGINT AS n FROM lost_events',
    );
    expect(lost[0].n).toBe(BigInt(sidecar.lost_events));

    const ckpts = r.stdout.split('\n').filter((l) => l.startsWith('MMREPLAY_CKPT'));
    const marks = await db.rows<{ buf: string }>(
      `SELECT trim(buf) AS buf FROM ftrace_print ORDER BY id`,
    );
    expect(marks.map((m) => m.buf)).toEqual(ckpts);

    // Every page the workload touched faulted at that address, in that thread.
    const touches = [
      ...r.stdout.matchAll(/MMREPLAY_TOUCH op=\w addr=0x([0-9a-f]+) tid=(\d+)/g),
    ].map((m) => `${BigInt('0x' + m[1]) & ~0xfffn}/${m[2]}`);
    expect(touches.length).toBeGreaterThan(10);
    const faults = new Set(
      (
        await db.rows<{ k: string }>(
          `SELECT ((address // 4096) * 4096)::VARCHAR || '/' || tid AS k FROM exceptions_page_fault_user JOIN events USING (id)`,
        )
      ).map((f) => f.k),
    );
    expect(touches.filter((t) => !faults.has(t))).toEqual([]);
    db.close();
  });

  it('--format dat -o NAME.dat writes the .dat there (it ingests as one) and the text beside it as NAME.txt', async () => {
    const out = path.join(dir, 'fmt.dat');
    const r = await run([
      'record',
      '-e',
      'mm',
      '--format',
      'dat',
      '-o',
      out,
      '--',
      path.join(ROOT, 'traces/workloads/build/anon'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wrote .*fmt\.txt and .*fmt\.txt\.json .*fmt\.dat\)/);
    expect(fs.readFileSync(out).subarray(0, 10).toString('latin1')).toBe('\x17\x08\x44tracing');
    const { db, files } = await ingestTemp([out, path.join(dir, 'fmt.txt')]);
    expect(files.map((f) => f.format)).toEqual(['trace-cmd-dat', 'ftrace']);
    expect(files[0].events).toBeGreaterThan(100);
    expect(files.map((f) => f.unparsed)).toEqual([0, 0]);
    db.close();
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('cleans up and leaves an ingestible partial trace on %s', async (sig, code) => {
    const out = path.join(dir, `busy-${sig}.txt`);
    const p = spawn(BIN, [
      'record',
      '-e',
      'mm-lite',
      '-o',
      out,
      '--',
      'sh',
      '-c',
      'while :; do ls / >/dev/null; done',
    ]);
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
    for (let i = 0; i < 200 && !(fs.existsSync(out) && fs.statSync(out).size > 20_000); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(fs.existsSync(path.join(INSTANCES, `mmreplay-${p.pid}`))).toBe(true);
    p.kill(sig);
    expect(await exited).toBe(code);
    expect(stderr).toMatch(/wrote/);
    expect(fs.existsSync(path.join(INSTANCES, `mmreplay-${p.pid}`))).toBe(false);
    const { db, files } = await ingestTemp([out]);
    expect(files[0].events).toBeGreaterThan(100);
    expect(files[0].unparsed).toBe(0);
    expect(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')).signal).toBe(sig);
    db.close();
  });

  it('exits 2 with a fix when there is nothing to record', async () => {
    const r = await run(['record', '-o', path.join(dir, 'x.txt')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give -- COMMAND/);
  });

  it('keeps a kernel thread named by --with-comm in the pid filter, and refuses a name nothing runs', async () => {
    const out = path.join(dir, 'with.txt');
    const r = await run([
      'record',
      '-e',
      'sched:sched_process_exit',
      '--with-comm',
      'kthreadd',
      '-o',
      out,
      '--',
      '/bin/true',
    ]);
    expect(r.code).toBe(0);
    const side = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(side.with_tasks).toEqual([{ comm: 'kthreadd', pid: 2 }]);
    const bad = await run([
      'record',
      '--with-comm',
      'no-such-thread',
      '-o',
      path.join(dir, 'y.txt'),
      '--',
      '/bin/true',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no task named no-such-thread/);
  });
});
