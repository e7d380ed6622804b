// Per-operation costs of the simulated interleaving, as empirical distributions (µs).
// The numbers come from the lab traces through calibrate.ts (lab-costs.ts is its output).
import type { Rng } from './rng.js';

/** An empirical distribution: quantiles at evenly spaced probabilities 0, 1/(n-1), ..., 1 (µs). */
export type Quantiles = number[];

export interface Costs {
  /** get_user_pages_remote duration per page of the call (entry to return / nr_pages). */
  gupPerPage: Quantiles;
  /** GUP's return to the first rmap_walk of the call. */
  walkFirst: Quantiles;
  /** One rmap_walk to the next within a call (the per-page walk, TLB flush included). */
  walkPerPage: Quantiles;
  /** The last rmap_walk to the call's return. */
  walkLast: Quantiles;
  /** ioctl entry to the first make_device_exclusive_range call. */
  ioctlToCall: Quantiles;
  /** A call's return to the next call of the same request (dmirror_atomic_map, unlocks). */
  callGap: Quantiles;
  /** The last call's return to the bounce buffer's vmalloc returning (the final read). */
  callToRead: Quantiles;
  /** The read to the ioctl's return. */
  readToExit: Quantiles;
  /** The ioctl's return to the next ioctl (the race program's bookkeeping between requests). */
  requestGap: Quantiles;
  /** MADV_DONTNEED: entry to the zap (the mmu notifier), and the zap to the return. */
  madviseToZap: Quantiles;
  zapToExit: Quantiles;
  /** The racer's write fault on a zapped page to its next action (refault cost). */
  refault: Quantiles;
  /** madvise's return to the racer's first refault, and the last refault to the next madvise. */
  racerGap: Quantiles;
}

/**
 * What a writer waiting for the driver's mmap_read_lock costs the race, measured where the trace
 * has the mmap_lock tracepoints (the lab's 6.12 race-mprotect, race-fork_exit and race-fork_write):
 * under TCG the driver's final read comes milliseconds after its mmap_read_unlock when a writer was
 * waiting (microseconds when none was), after the writer's first notifier.
 */
export interface Contention {
  /** The driver's mmap_read_unlock to the waiting writer's mmap_lock_acquire_returned. */
  writerWake: Quantiles;
  /** The writer's acquire to its first mmu notifier (mprotect's or dup_mmap's work before it). */
  writerWork: Quantiles;
  /** The writer's acquire to its mmap_write_unlock (TLB flushes under TCG take milliseconds). */
  writerHold: Quantiles;
  /** The driver's mmap_read_unlock to its final read (vmalloc's return) where a writer waited. */
  readAfterWriter: Quantiles;
}

export interface ContentionCalibration {
  costs: Contention;
  sources: string[];
  samples: Record<keyof Contention, number>;
}

export interface Calibration {
  costs: Costs;
  /** Where the numbers come from: traces, and what each was measured from. */
  sources: string[];
  /** Samples behind each distribution. */
  samples: Record<keyof Costs, number>;
  /** A writer's wait for the driver's read lock (default: the lab's, lab-contention.json). */
  contention?: ContentionCalibration;
}

/** A draw from an empirical distribution, linearly interpolated, rounded to whole µs (>= 1). */
export function draw(q: Quantiles, rng: Rng): number {
  if (q.length === 1) return Math.max(1, Math.round(q[0]));
  const x = rng.float() * (q.length - 1);
  const i = Math.floor(x);
  const v = q[i] + (q[Math.min(i + 1, q.length - 1)] - q[i]) * (x - i);
  return Math.max(1, Math.round(v));
}

/** The n+1 quantiles of a sample (type 7, as R's default). */
export function quantiles(sample: number[], n = 100): Quantiles {
  const s = [...sample].sort((a, b) => a - b);
  if (!s.length) return [1];
  const out: number[] = [];
  for (let k = 0; k <= n; k++) {
    const h = ((s.length - 1) * k) / n;
    const lo = Math.floor(h);
    out.push(
      Math.round((s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (h - lo)) * 10) / 10,
    );
  }
  return out;
}

/** Scales every driver-side cost (GUP and walk) by `k`: the sweep's what-if for faster devices. */
export function scaled(c: Costs, k: number): Costs {
  const m = (q: Quantiles) => q.map((x) => x * k);
  return {
    ...c,
    gupPerPage: m(c.gupPerPage),
    walkFirst: m(c.walkFirst),
    walkPerPage: m(c.walkPerPage),
    walkLast: m(c.walkLast),
  };
}
