// CPU-side threads racing the driver. They work only while a request is in flight, as the lab's
// race program's racers do (traces/lab/race.c), and pause between operations by their rate.
import { draw } from './costs.js';
import type { SimContext } from './context.js';
import type { Thread } from './kernel.js';
import type { Rate } from './scenario.js';
import type { Yield } from './scheduler.js';

const MADV_DONTNEED = 4;

/** race.c `dontneed`: MADV_DONTNEED on 1-4 random contiguous pages, then write each again. */
export function* dontneed(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, costs: C, rng } = ctx;
  const { tid, cpu } = th;
  for (;;) {
    if (ctx.finished) return;
    if (!ctx.inFlight) {
      yield ctx.idle(th);
      continue;
    }
    if (rate !== 'lab') {
      yield Math.max(1, Math.round(rng.exp(1e6 / rate)));
      if (!ctx.inFlight) continue;
    }
    ctx.racerOps++;
    const k = rng.int(1, 4);
    const a = rng.int(0, R.npages - k);
    const culprit = L.madviseEnter(tid, cpu, R.va(a), k * 4096, MADV_DONTNEED);
    yield draw(C.madviseToZap, rng);
    R.zap(th, a, k, culprit);
    yield draw(C.zapToExit, rng);
    L.madviseExit(tid, cpu);
    yield draw(C.racerGap, rng);
    for (let j = 0; j < k; j++) {
      const r = R.userWrite(th, a + j);
      if (r !== 'done') {
        // The entry's folio is locked by the converting call: sleep until it is unlocked.
        r.waiters.push(() => ctx.sched.wake(ctx.thread(tid)));
        yield { block: true };
        R.userWriteRetry(th, a + j);
      }
      yield draw(C.refault, rng);
    }
  }
}

/**
 * race.c `uffd_wp`: UFFDIO_WRITEPROTECT mode WP on 1-4 random contiguous pages, then mode 0 on the
 * same pages, alternately (the region is registered in WP mode with UFFD_FEATURE_WP_ASYNC). The
 * ioctl's costs are the DONTNEED racer's madvise costs (the lab calibration measures those).
 */
export function* uffdWp(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, costs: C, rng } = ctx;
  const { tid, cpu } = th;
  let protectedRange: [number, number] | null = null;
  for (;;) {
    if (ctx.finished) return;
    if (!ctx.inFlight) {
      yield ctx.idle(th);
      continue;
    }
    if (rate !== 'lab') {
      yield Math.max(1, Math.round(rng.exp(1e6 / rate)));
      if (!ctx.inFlight) continue;
    }
    ctx.racerOps++;
    const enable: boolean = protectedRange === null;
    let range: [number, number];
    if (protectedRange) range = protectedRange;
    else {
      const k = rng.int(1, 4);
      range = [rng.int(0, R.npages - k), k];
    }
    const [a, k] = range;
    L.uffdIoctlEnter(tid, cpu);
    L.mwriteprotectRange(tid, cpu, R.va(a), k * 4096, enable);
    yield draw(C.madviseToZap, rng);
    R.uffdWriteProtect(th, a, k, enable);
    protectedRange = enable ? [a, k] : null;
    yield draw(C.zapToExit, rng);
    L.ioctlReturn(tid, cpu, 0);
    yield draw(C.racerGap, rng);
  }
}

/**
 * race.c `mprotect`: PROT_READ on 1-64 random contiguous pages, then PROT_READ|PROT_WRITE on the
 * same pages, alternately. mprotect takes mmap_write_lock, so it waits while the driver holds the
 * read lock (the whole GUP-and-walk loop) and lands between requests or before the final read.
 * Its costs are the DONTNEED racer's (zap to return, return to next).
 */
export function* mprotect(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, costs: C, rng } = ctx;
  const { tid, cpu } = th;
  let readOnly: [number, number] | null = null;
  for (;;) {
    if (ctx.finished) return;
    if (!ctx.inFlight) {
      yield ctx.idle(th);
      continue;
    }
    if (rate !== 'lab') {
      yield Math.max(1, Math.round(rng.exp(1e6 / rate)));
      if (!ctx.inFlight) continue;
    }
    ctx.racerOps++;
    const protect: boolean = readOnly === null;
    let range: [number, number];
    if (readOnly) range = readOnly;
    else {
      const k = rng.int(1, 64);
      range = [rng.int(0, R.npages - k), k];
    }
    const [a, k] = range;
    L.mprotectEnter(tid, cpu, R.va(a), k * 4096, protect ? 1 : 3);
    const wait = ctx.mmapWriteLock(th);
    if (wait) yield wait;
    R.mprotect(th, a, k, protect);
    readOnly = protect ? range : null;
    yield draw(C.zapToExit, rng);
    L.mprotectExit(tid, cpu);
    yield draw(C.racerGap, rng);
  }
}
