// What the simulated threads share: the clock, the kernel's state, the trace, the truth.
import { draw, type Contention, type Costs } from './costs.js';
import type { Region, Thread } from './kernel.js';
import type { Lines } from './lines.js';
import type { Rng } from './rng.js';
import type { Scenario } from './scenario.js';
import type { Scheduler, SimThread, Yield } from './scheduler.js';
import type { TruthSink } from './truth.js';

export class SimContext {
  /** A request is in flight (between the driver's RACE_BEGIN and RACE_END). */
  inFlight = false;
  /** The driver has made its last request. */
  finished = false;
  private idlers: SimThread[] = [];
  private threads = new Map<number, SimThread>();
  driverThread!: Thread;
  /** The design the driver's kernel runs: 6.15 is simulated only (its lines are not written). */
  design: '5.14' | 'v8' | '6.15' = '5.14';
  /** Racer operations started while a request was in flight, and the time requests were in flight. */
  racerOps = 0;
  inFlightNs = 0;
  private since = 0;

  constructor(
    readonly sched: Scheduler,
    readonly region: Region,
    readonly lines: Lines,
    readonly rng: Rng,
    readonly costs: Costs,
    readonly truth: TruthSink,
    readonly scenario: Scenario,
    /** The next request's size, or null when the driver should stop. */
    readonly nextSize: () => number | null,
  ) {}

  /**
   * The driver holds mmap_read_lock over its calls; writers (mprotect, fork's dup_mmap) wait for
   * its release, and the driver's next request waits for a writer's.
   */
  private readHeld = false;
  private writeHeld = false;
  private writers: (() => void)[] = [];
  private readers: (() => void)[] = [];

  /** mmap_read_lock in the driver: null when taken at once, else a wait for the writer. */
  mmapReadLock(th: Thread): Yield | null {
    if (!this.writeHeld) {
      this.readHeld = true;
      return null;
    }
    this.readers.push(() => {
      this.readHeld = true;
      this.sched.wake(this.thread(th.tid));
    });
    return { block: true };
  }

  /**
   * mmap_read_unlock: rwsem hands the lock to the first waiting writer, which runs `writerWake`
   * later (the lab's measure). Returns whether one was waiting: the driver's read is then late.
   */
  mmapReadUnlock(): boolean {
    this.readHeld = false;
    const w = this.writers.shift();
    if (!w) return false;
    this.writeHeld = true;
    this.sched.at(this.sched.now + draw(this.contention.writerWake, this.rng) * 1000, w);
    return true;
  }

  /** The driver is between its mmap_read_unlock and its final read. */
  beforeRead = false;

  /** What a writer waiting for the driver's read lock costs (set by generate.ts). */
  contention!: Contention;

  /** mmap_write_lock: null when it is free (taken at once), else a wait until the read unlock. */
  mmapWriteLock(th: Thread): Yield | null {
    if (!this.readHeld && !this.writeHeld) {
      this.writeHeld = true;
      return null;
    }
    this.writers.push(() => this.sched.wake(this.thread(th.tid)));
    return { block: true };
  }

  mmapWriteUnlock(): void {
    this.writeHeld = false;
    const w = this.writers.shift();
    if (w) {
      this.writeHeld = true;
      w();
      return;
    }
    const r = this.readers;
    this.readers = [];
    for (const wake of r) wake();
  }

  /** The request in flight: its first page and size (race.c's migrate racer reads them). */
  request: { p0: number; n: number } | null = null;

  /** Pids of processes and threads made during the run (fork children). */
  nextPid = 0;
  /** Starts a simulated thread (a fork child); set by generate.ts. */
  spawn!: (tid: number, cpu: number, body: (self: Thread) => Generator<Yield, void, void>) => void;

  add(t: SimThread): void {
    this.threads.set(t.tid, t);
  }

  thread(tid: number): SimThread {
    return this.threads.get(tid)!;
  }

  /** A racer waits for the next request. */
  idle(th: Thread): Yield {
    this.idlers.push(this.thread(th.tid));
    return { block: true };
  }

  beginRequest(): void {
    this.inFlight = true;
    this.since = this.sched.now;
    const w = this.idlers;
    this.idlers = [];
    for (const t of w) this.sched.wake(t);
  }

  endRequest(): void {
    if (this.inFlight) this.inFlightNs += this.sched.now - this.since;
    this.inFlight = false;
    if (this.finished) {
      const w = this.idlers;
      this.idlers = [];
      for (const t of w) this.sched.wake(t);
    }
  }
}
