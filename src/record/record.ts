// `mmreplay record`: trace a command (and its children) or a pid through a private tracefs
// instance, streaming trace_pipe to a file so long runs do not overflow the ring buffer.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTracefs, Instance, TracefsUnavailable, type CpuStats } from './tracefs.js';
import { expandEvents } from './presets.js';
import { UsageError } from '../errors.js';

export interface RecordOptions {
  command?: string[];
  pid?: number;
  /** Kernel threads (by comm: ksmd, khugepaged, kswapd0) whose events are kept too: they act on
   *  the recorded process's memory from their own context. */
  withComm?: string[];
  allCpus?: boolean;
  events: string[];
  output: string;
  bufferKb: number;
  clock: string;
  dat?: boolean;
  /** Called once tracing is on (tests use it to signal mid-run). */
  onStart?: (info: { instance: string; childPid: number | null }) => void;
  /** Events written and lost so far (ring-buffer overruns and markers), a few times a second. */
  onProgress?: (p: { events: number; lost: number }) => void;
  log?: (msg: string) => void;
}

export interface Sidecar {
  tool: string;
  kernel_release: string;
  page_size: number;
  /** 5 when the kernel runs 5-level paging (cpuinfo's la57 flag, which the kernel clears otherwise). */
  paging_levels: 4 | 5;
  clock: string;
  cpus: number;
  buffer_size_kb: number;
  command: string[] | null;
  pid: number | null;
  /** Other tasks kept by the pid filter (--with-comm), by comm. */
  with_tasks: { comm: string; pid: number }[];
  instance: string;
  events_asked: string[];
  events_placed: string[];
  events_missing: string[];
  kprobes_missing: { event: string; why: string }[];
  start_ts: string;
  end_ts: string;
  exit_code: number | null;
  signal: string | null;
  stats: CpuStats[];
  lost_events: number;
  /** Events written to the output (its lines, less lost-events markers). */
  events_recorded: number;
  dat: { file: string; stats: CpuStats[] } | null;
  formats: Record<string, string>;
}

export function sidecarPath(output: string): string {
  return `${output}.json`;
}

function pageSize(): number {
  const r = spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' });
  return Number(r.stdout?.trim()) || 4096;
}

/** Streams an instance's trace_pipe into a file with non-blocking reads, so it can be stopped at will. */
class PipeStreamer {
  private fd: number;
  private out: number;
  private stopping = false;
  private done: Promise<void>;
  bytes = 0;
  /** Lines written, and the lost-events markers among them (`CPU:N [LOST M EVENTS]`) with their counts. */
  lines = 0;
  markers = 0;
  markedLost = 0;
  private partial = '';

  constructor(pipe: string, output: string) {
    this.out = fs.openSync(output, 'w');
    this.fd = fs.openSync(pipe, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const buf = Buffer.alloc(1 << 20);
    let idleAfterStop = 0;
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(this.fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n > 0) {
        fs.writeSync(this.out, buf, 0, n);
        this.bytes += n;
        this.count(buf.subarray(0, n));
        continue;
      }
      if (this.stopping && ++idleAfterStop >= 3) break;
      await sleep(this.stopping ? 10 : 25);
    }
    fs.closeSync(this.fd);
    fs.closeSync(this.out);
  }

  private count(chunk: Buffer): void {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.lines++;
    // Markers are rare: the text is only decoded when a chunk (or the line cut at its end) has one.
    const text = this.partial + (chunk.includes('LOST') || this.partial ? chunk.toString('latin1') : '');
    this.partial = '';
    if (!text) return;
    for (const m of text.matchAll(/^CPU:\d+ \[LOST (\d+) EVENTS\]$/gm)) {
      this.markers++;
      this.markedLost += Number(m[1]);
    }
    const nl = text.lastIndexOf('\n');
    if (text.slice(nl + 1).startsWith('CPU:')) this.partial = text.slice(nl + 1);
  }

  /** Drains what is left and closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}

export async function record(opts: RecordOptions): Promise<Sidecar> {
  const log = opts.log ?? (() => {});
  if (!opts.command?.length && opts.pid === undefined && !opts.allCpus) {
    throw new TracefsUnavailable('nothing to record: give -- COMMAND [ARGS], --pid N, or --all-cpus');
  }
  if (opts.pid !== undefined && !fs.existsSync(`/proc/${opts.pid}`)) throw new TracefsUnavailable(`no process ${opts.pid}`);
  // Like --db: the output's directory must exist (mmreplay creates files, not directories).
  const outDir = path.dirname(path.resolve(opts.output));
  if (!fs.existsSync(outDir)) throw new UsageError(`${opts.output}: directory ${outDir} does not exist (mmreplay creates files, not directories)`);
  const tracefs = findTracefs();
  const available = fs.readFileSync(`${tracefs}/available_events`, 'utf8').split('\n').filter(Boolean);
  const asked = expandEvents(opts.events, available);
  if (asked.unknown.length) throw new TracefsUnavailable(`this kernel has no such events: ${asked.unknown.join(', ')} (see ${tracefs}/available_events)`);

  const instances: Instance[] = [];
  let child: ChildProcess | null = null;
  let signal: NodeJS.Signals | null = null;
  const cleanup = () => {
    for (const i of instances) {
      i.remove();
      if (i.exists()) log(`could not remove ${i.dir}; remove it with: rmdir ${i.dir}`);
    }
  };
  const onExit = () => cleanup();
  process.on('exit', onExit);
  const onSignal = (sig: NodeJS.Signals) => {
    signal ??= sig;
    if (child && child.exitCode === null) child.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    const base = `mmreplay-${process.pid}`;
    const main = Instance.create(tracefs, base);
    instances.push(main);
    const datInst = opts.dat ? Instance.create(tracefs, `${base}-dat`) : null;
    if (datInst) instances.push(datInst);
    let placed: string[] = [];
    let kprobesMissing: { event: string; why: string }[] = [];
    for (const inst of instances) {
      inst.write('trace_clock', opts.clock);
      inst.write('buffer_size_kb', String(opts.bufferKb));
      const en = inst.enableEvents(asked.events);
      placed = en.placed;
      if (inst === main && asked.kprobes.length) {
        const k = inst.defineKprobes(asked.kprobes);
        placed.push(...k.placed);
        kprobesMissing = k.missing;
      } else if (asked.kprobes.length) {
        inst.enableEvents(asked.kprobes.map((k) => k.event).filter((e) => placed.includes(e)));
      }
      if (!opts.allCpus) inst.write('options/event-fork', '1');
    }
    for (const k of kprobesMissing) log(`kprobe not placed: ${k.event}: ${k.why}`);
    if (asked.missing.length) log(`events this kernel lacks: ${asked.missing.join(', ')}`);

    const formats: Record<string, string> = {};
    for (const ev of [...placed, 'ftrace:print']) {
      const f = main.formatOf(ev);
      if (f) formats[ev] = f;
    }

    // The command waits on fd 3 until the pid filter is set, so its first events are kept.
    let childPid: number | null = null;
    let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
    if (opts.command?.length) {
      child = spawn('/bin/sh', ['-c', 'read _ <&3 && exec "$@" 3<&-', 'mmreplay-record', ...opts.command], {
        stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
        env: { ...process.env, MMREPLAY_MARKER: instances.map((i) => i.path('trace_marker')).join(':'), MMREPLAY_NOGATE: '1' },
      });
      childPid = child.pid ?? null;
      exited = new Promise((resolve, reject) => {
        child!.once('exit', (code, sig) => resolve({ code, signal: sig }));
        child!.once('error', reject);
      });
      if (childPid === null) throw new Error(`cannot start ${opts.command[0]}`);
    }
    const withTasks = tasksNamed(opts.withComm ?? []);
    const pids = [...(childPid !== null ? [childPid] : opts.pid !== undefined ? threadsOf(opts.pid) : []), ...withTasks.map((t) => t.pid)];
    if (!opts.allCpus) for (const inst of instances) inst.write('set_event_pid', pids.join(' '));

    const streamer = new PipeStreamer(main.path('trace_pipe'), opts.output);
    const startTs = new Date().toISOString();
    for (const inst of instances) inst.write('tracing_on', '1');
    log(`recording ${placed.length} event types into ${opts.output} (instance ${main.name})`);
    opts.onStart?.({ instance: main.dir, childPid });
    const overruns = () => main.cpuStats().reduce((n, s) => n + s.overrun + s.dropped_events, 0);
    const ticker = opts.onProgress
      ? setInterval(() => opts.onProgress!({ events: streamer.lines - streamer.markers, lost: Math.max(overruns(), streamer.markedLost) }), 250)
      : null;

    let result: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };
    if (child && exited) {
      (child.stdio[3] as NodeJS.WritableStream).end('go\n');
      result = await exited;
    } else {
      while (!signal && (opts.pid === undefined || fs.existsSync(`/proc/${opts.pid}`))) await sleep(100);
    }
    for (const inst of instances) inst.write('tracing_on', '0');
    await streamer.stop();
    if (ticker) clearInterval(ticker);
    const stats = main.cpuStats();
    let dat: Sidecar['dat'] = null;
    if (datInst) {
      const file = opts.output.replace(/\.txt$/, '') + '.dat';
      // trace-cmd 3.1.x's `extract -B` removes the instance when it is done: its statistics are
      // read before (the .dat keeps its own copy in CPUSTAT options).
      const datStats = datInst.cpuStats();
      const r = spawnSync('trace-cmd', ['extract', '-B', datInst.name, '-o', file], { encoding: 'utf8' });
      if (r.error || r.status !== 0) log(`trace-cmd extract failed: ${r.error?.message ?? r.stderr.trim()}`);
      else dat = { file, stats: datStats };
    }
    const lost = stats.reduce((n, s) => n + s.overrun + s.dropped_events, 0);
    const sidecar: Sidecar = {
      tool: 'mmreplay record',
      kernel_release: os.release(),
      page_size: pageSize(),
      paging_levels: /^flags\s*:.*\bla57\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) ? 5 : 4,
      clock: opts.clock,
      cpus: os.cpus().length,
      buffer_size_kb: opts.bufferKb,
      command: opts.command ?? null,
      pid: opts.pid ?? childPid,
      with_tasks: withTasks,
      instance: main.name,
      events_asked: opts.events,
      events_placed: placed,
      events_missing: asked.missing,
      kprobes_missing: kprobesMissing,
      start_ts: startTs,
      end_ts: new Date().toISOString(),
      exit_code: result.code,
      signal: signal ?? result.signal,
      stats,
      lost_events: lost,
      events_recorded: streamer.lines - streamer.markers,
      dat,
      formats,
    };
    fs.writeFileSync(sidecarPath(opts.output), JSON.stringify(sidecar, null, 1) + '\n');
    if (lost) log(`${lost} events lost (ring buffer overrun); raise --buffer-kb`);
    return sidecar;
  } finally {
    cleanup();
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

/** Tasks whose comm is one of names; a name nothing runs under is an error. */
function tasksNamed(names: string[]): { comm: string; pid: number }[] {
  if (!names.length) return [];
  const found: { comm: string; pid: number }[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (names.includes(comm)) found.push({ comm, pid: Number(d) });
  }
  const missing = names.filter((n) => !found.some((t) => t.comm === n));
  if (missing.length) throw new TracefsUnavailable(`--with-comm: no task named ${missing.join(', ')} is running`);
  return found;
}

function threadsOf(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [pid];
  }
}
