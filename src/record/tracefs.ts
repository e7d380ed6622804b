// A private tracefs instance (instances/NAME): set up, stream, tear down. Never touches the
// top-level buffer. Every write names the file it failed on.
import fs from 'node:fs';
import path from 'node:path';

export const TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** A setup problem the user must fix (exit code 2), with how to fix it. */
export class TracefsUnavailable extends Error {
  readonly exitCode = 2;
}

export function findTracefs(): string {
  for (const t of TRACEFS_CANDIDATES) if (fs.existsSync(path.join(t, 'instances'))) return t;
  throw new TracefsUnavailable(
    `tracefs is not mounted (looked in ${TRACEFS_CANDIDATES.join(', ')}); as root: mount -t tracefs nodev /sys/kernel/tracing`,
  );
}

export interface CpuStats {
  cpu: number;
  entries: number;
  overrun: number;
  commit_overrun: number;
  dropped_events: number;
  read_events: number;
}

export class Instance {
  readonly dir: string;
  private removed = false;
  private kprobes: string[] = [];

  private constructor(
    readonly tracefs: string,
    readonly name: string,
  ) {
    this.dir = path.join(tracefs, 'instances', name);
  }

  static create(tracefs: string, name: string): Instance {
    const inst = new Instance(tracefs, name);
    try {
      fs.mkdirSync(inst.dir);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        throw new TracefsUnavailable(
          `cannot create tracefs instance ${inst.dir}: ${err.code}; run as root (or with CAP_SYS_ADMIN and CAP_PERFMON)`,
        );
      }
      if (err.code === 'EEXIST') throw new TracefsUnavailable(`tracefs instance ${inst.dir} already exists; remove it with: rmdir ${inst.dir}`);
      throw new TracefsUnavailable(`cannot create tracefs instance ${inst.dir}: ${err.message}`);
    }
    // A new instance starts with tracing on; nothing may be recorded before the filters are set.
    inst.write('tracing_on', '0');
    return inst;
  }

  path(file: string): string {
    return path.join(this.dir, file);
  }

  write(file: string, value: string, append = false): void {
    try {
      fs.writeFileSync(this.path(file), value, { flag: append ? 'a' : 'w' });
    } catch (e) {
      throw new Error(`writing "${value.trim()}" to ${this.path(file)}: ${(e as Error).message}`, { cause: e });
    }
  }

  read(file: string): string {
    return fs.readFileSync(this.path(file), 'utf8');
  }

  /** Enables each event (`system:name`); returns those the kernel does not have. */
  enableEvents(events: string[]): { placed: string[]; missing: string[] } {
    const placed: string[] = [];
    const missing: string[] = [];
    for (const ev of events) {
      const [sys, name] = ev.split(':');
      const enable = this.path(path.join('events', sys, name, 'enable'));
      if (!fs.existsSync(enable)) {
        missing.push(ev);
        continue;
      }
      fs.writeFileSync(enable, '1');
      placed.push(ev);
    }
    return { placed, missing };
  }

  /** Defines kprobes (global dynamic events) for this instance to enable; returns the ones refused. */
  defineKprobes(defs: { event: string; definition: string }[]): { placed: string[]; missing: { event: string; why: string }[] } {
    const file = path.join(this.tracefs, 'kprobe_events');
    const placed: string[] = [];
    const missing: { event: string; why: string }[] = [];
    for (const d of defs) {
      if (!fs.existsSync(file)) {
        missing.push({ event: d.event, why: 'kernel has no kprobe events (CONFIG_KPROBE_EVENTS)' });
        continue;
      }
      try {
        fs.writeFileSync(file, d.definition + '\n', { flag: 'a' });
        this.kprobes.push(d.event);
        placed.push(d.event);
      } catch (e) {
        const log = fs.existsSync(path.join(this.tracefs, 'error_log')) ? fs.readFileSync(path.join(this.tracefs, 'error_log'), 'utf8').trim().split('\n').slice(-2).join(' ') : '';
        missing.push({ event: d.event, why: `${(e as Error).message}${log ? `: ${log}` : ''} (static or inlined function?)` });
      }
    }
    return placed.length ? { placed: this.enableEvents(placed).placed, missing } : { placed, missing };
  }

  formatOf(event: string): string | null {
    const [sys, name] = event.split(':');
    const f = this.path(path.join('events', sys, name, 'format'));
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
  }

  cpuStats(): CpuStats[] {
    const dir = this.path('per_cpu');
    return fs
      .readdirSync(dir)
      .filter((d) => /^cpu\d+$/.test(d))
      .map((d) => {
        const text = fs.readFileSync(path.join(dir, d, 'stats'), 'utf8');
        const num = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
        return {
          cpu: Number(d.slice(3)),
          entries: num('entries'),
          overrun: num('overrun'),
          commit_overrun: num('commit overrun'),
          dropped_events: num('dropped events'),
          read_events: num('read events'),
        };
      })
      .sort((a, b) => a.cpu - b.cpu);
  }

  /** Turns tracing off, clears events and pid filters, removes kprobes and the instance. Idempotent, synchronous. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    const quiet = (f: () => void) => {
      try {
        f();
      } catch {
        /* best effort: keep tearing down */
      }
    };
    quiet(() => this.write('tracing_on', '0'));
    quiet(() => this.write('set_event', ''));
    quiet(() => this.write('set_event_pid', ''));
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(this.dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        // EBUSY while a reader still holds trace_pipe open: give it a moment.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    for (const ev of this.kprobes) {
      const [sys, name] = ev.split(':');
      quiet(() => fs.writeFileSync(path.join(this.tracefs, 'kprobe_events'), `-:${sys}/${name}\n`, { flag: 'a' }));
    }
  }

  exists(): boolean {
    return fs.existsSync(this.dir);
  }
}
