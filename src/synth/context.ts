// What the simulated threads share: the clock, the kernel's state, the trace, the truth.
import type { Costs } from './costs.js';
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
    const w = this.idlers;
    this.idlers = [];
    for (const t of w) this.sched.wake(t);
  }

  endRequest(): void {
    this.inFlight = false;
    if (this.finished) {
      const w = this.idlers;
      this.idlers = [];
      for (const t of w) this.sched.wake(t);
    }
  }
}
