// The simulated interleaving: a discrete-event scheduler over CPUs. Threads are generators that
// yield how long their next operation takes (µs); the scheduler resumes them in time order. A
// thread runs on one CPU; a thread whose CPU is busy with another thread's operation waits for it.
// Silent actions (GUP pinning a page between its traced anchors) run before any thread step at the
// same time, as the replay applies them before the event at that time.

/**
 * What a thread yields: a duration in µs, or a wait for someone to wake it, or a duration whose end
 * no thread waiting for the CPU may take first (`hold`: kernel work that goes on, e.g. GUP's
 * return after its pages, whose times are already fixed).
 */
export type Yield = number | { block: true } | { hold: number };

export interface SimThread {
  tid: number;
  comm: string;
  cpu: number;
  body: Generator<Yield, void, void>;
  blocked: boolean;
  done: boolean;
}

interface Entry {
  t: number;
  prio: number;
  seq: number;
  run: () => void;
}

export class Scheduler {
  /** Current time, ns (a whole number of µs). */
  now = 0;
  private heap: Entry[] = [];
  private seq = 0;
  private cpuBusyUntil: number[];
  private cpuOwner: (SimThread | null)[];
  current: SimThread | null = null;

  constructor(
    readonly cpus: number,
    start: number,
  ) {
    this.now = start;
    this.cpuBusyUntil = new Array(cpus).fill(0);
    this.cpuOwner = new Array(cpus).fill(null);
  }

  /** Runs `run` at time t (ns); prio 0 runs before prio 1 at equal times, then first come first served. */
  at(t: number, run: () => void, prio = 1): void {
    const e = { t, prio, seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < h.length && before(h[l], best)) {
          m = l;
          best = h[l];
        }
        if (r < h.length && before(h[r], best)) m = r;
        if (m === i) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  /** Starts a thread now. */
  spawn(t: SimThread): void {
    this.at(this.now, () => this.step(t));
  }

  /** Resumes a blocked thread now (after whatever runs at this time already). */
  wake(t: SimThread): void {
    if (!t.blocked || t.done) return;
    t.blocked = false;
    this.at(this.now, () => this.step(t));
  }

  private step(t: SimThread): void {
    if (t.done) return;
    // Another thread holds the CPU until its operation ends: wait for it, and take the CPU then
    // before the owner's next operation (prio 0.9: after silent actions, before thread steps), so
    // that threads sharing a CPU take turns and none starves.
    const owner = this.cpuOwner[t.cpu];
    if (owner && owner !== t && this.cpuBusyUntil[t.cpu] > this.now) {
      this.at(this.cpuBusyUntil[t.cpu], () => this.step(t), 0.9);
      return;
    }
    this.current = t;
    const r = t.body.next();
    this.current = null;
    if (r.done) {
      t.done = true;
      return;
    }
    const y = r.value;
    if (typeof y === 'number' || 'hold' in y) {
      const d = typeof y === 'number' ? y : y.hold;
      const until = this.now + Math.max(1, Math.round(d)) * 1000;
      this.cpuOwner[t.cpu] = t;
      this.cpuBusyUntil[t.cpu] = until;
      this.at(until, () => this.step(t), typeof y === 'number' ? 1 : 0.8);
    } else {
      // Blocked threads sleep: the CPU is free.
      t.blocked = true;
      if (this.cpuOwner[t.cpu] === t) this.cpuBusyUntil[t.cpu] = this.now;
    }
  }

  /** Runs until nothing is left to run. */
  run(): void {
    for (let e = this.pop(); e; e = this.pop()) {
      this.now = e.t;
      e.run();
    }
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.t < b.t || (a.t === b.t && (a.prio < b.prio || (a.prio === b.prio && a.seq < b.seq)));
}
