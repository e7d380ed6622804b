// CPU-side threads racing the driver. They work only while a request is in flight, as the lab's
// race program's racers do (traces/lab/race.c), and pause between operations by their rate.
import { draw } from './costs.js';
import type { SimContext } from './context.js';
import type { Folio, Thread } from './kernel.js';
import type { Rate } from './scenario.js';
import type { Yield } from './scheduler.js';

const MADV_DONTNEED = 4;
const MADV_PAGEOUT = 21;

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
      let r = R.userWrite(th, a + j);
      while (r !== 'done') {
        // The entry's folio is locked (by the converting call, a migration): sleep until it is
        // unlocked, then fault again.
        r.waiters.push(() => ctx.sched.wake(ctx.thread(tid)));
        yield { block: true };
        r = R.userWriteRetry(th, a + j);
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
    // mprotect_fixup's work (the VMA split) before its first notifier, and the rest until
    // mmap_write_unlock: milliseconds under the lab's TCG where it waited for the driver or runs
    // while the driver is between its unlock and its read (its TLB flushes meet the driver's CPU,
    // the lab's traces show), tens of microseconds otherwise.
    const slow = wait !== null || ctx.beforeRead;
    const work = slow ? draw(ctx.contention.writerWork, rng) : step(rng, RACER_STEPS.mprotect.work);
    const hold = slow ? draw(ctx.contention.writerHold, rng) : step(rng, RACER_STEPS.mprotect.hold);
    yield work;
    R.mprotect(th, a, k, protect);
    yield Math.max(1, hold - work);
    ctx.mmapWriteUnlock();
    readOnly = protect ? range : null;
    yield draw(C.zapToExit, rng);
    L.mprotectExit(tid, cpu);
    yield draw(C.racerGap, rng);
  }
}

/**
 * The new racers' step costs (µs): medians measured in one lab trace each (traces/lab/6.12/
 * race-fork_write, 6.12-r2/race-{migrate,pageout,ksm}/A; QEMU TCG, 2 vCPUs), drawn uniformly in
 * [0.5, 1.5] x the median. Not calibrated distributions as the DONTNEED racer's are.
 */
export const RACER_STEPS = {
  mprotect: {
    /** An mprotect that found mmap_lock free: its write lock to its first notifier, to its unlock
     *  (traces/lab/6.12/race-mprotect; one that waited for the driver: lab-contention.json). */
    work: 10,
    hold: 22,
  },
  fork: {
    /** dup_mmap from its first notifier to the region's copy_page_range, the copy and the rest. */
    toCopy: 150,
    /** mmap_write_unlock to task_newtask, and on to clone's return. */
    toNewTask: 2000,
    toExit: 53,
    /** The child: first run after fork, first write, between writes, last write to exit_group. */
    childStart: 1000,
    childFirstWrite: 423,
    childWrite: 49,
    childToExit: 350,
    /** exit_group to the unmap, the unmap to sched_process_exit. */
    exitToUnmap: 2000,
    unmapToExit: 700,
    /** The child's exit to the parent's next fork (wait4, race.c's log line). */
    next: 3183,
  },
  migrate: {
    /** Reading /proc/self/pagemap, and the racer's log line, between move_pages calls. */
    pagemap: 300,
    query: 24,
    /** move_pages' entry to migrate_pages (add_folio_for_migration under mmap_read_lock). */
    isolate: 1119,
    toStart: 7,
    toFirst: 36,
    /** A target's allocation to try_to_migrate, try_to_migrate's work, on to the next folio. */
    alloc: 13,
    unmap: 60,
    nextUnmap: 15,
    /** The last unmap to the first migrate_folio, between attempts, attempt to its undo. */
    toMove: 80,
    attempt: 5,
    undo: 40,
    /** The end: mm_migrate_pages, migrate_pages' return, the syscall's. */
    end: 14,
    ret: 10,
    exit: 39,
  },
  pageout: {
    /** madvise's entry to the isolation (the pte walk), and to reclaim_pages. */
    isolate: 100,
    reclaim: 5150,
    /** reclaim_pages to the first folio's trylock and try_to_unmap. */
    first: 110,
    /** try_to_unmap (notifier) to swap_writepage: TLB flushes under TCG. */
    toWrite: 9670,
    /** swap_writepage to its unlock, then mm_vmscan_write_folio, then the next folio. */
    write: 80,
    written: 59,
    next: 75,
    /** The last folio to reclaim_pages' return, to madvise's, to the next madvise. */
    ret: 34,
    exit: 33,
    gap: 150,
  },
  ksm: {
    /** try_to_merge_one_page's trylock to write_protect_page's notifier, its check, replace_page. */
    toProtect: 10,
    protect: 62,
    replace: 27,
    /** replace_page's rmap to the unlock, to the return, to the tracepoint, to the KSM page's unlocks. */
    unlock: 40,
    ret: 3,
    merged: 10,
    done: 52,
    /** A page ksmd looks at without merging it (not present, already merged). */
    skip: 5,
    /** Between pages (lab: pages_to_scan 512, sleep_millisecs 20). */
    next: 13,
    batch: 512,
    sleep: 20_000,
  },
};

/** A step: uniform in [0.5, 1.5] x its median (µs, >= 1). */
function step(rng: SimContext['rng'], median: number): number {
  return Math.max(1, Math.round(median * (0.5 + rng.float())));
}

/** Waits while no request is in flight, then the rate's pause; false when the run is over. */
function* ready(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, boolean, void> {
  for (;;) {
    if (ctx.finished) return false;
    if (!ctx.inFlight) {
      yield ctx.idle(th);
      continue;
    }
    if (rate !== 'lab') {
      yield Math.max(1, Math.round(ctx.rng.exp(1e6 / rate)));
      if (!ctx.inFlight) continue;
    }
    return true;
  }
}

/**
 * race.c `fork_exit` / `fork_write`: fork (clone, as glibc's fork), the child exits at once or
 * first writes 1-8 contiguous random pages (copy-on-write), and the parent waits for it. dup_mmap
 * takes the parent's mmap_write_lock: the fork waits for the driver's read lock to go, as
 * mprotect does, and the driver's next request waits for the copy; copy_page_range's
 * PROTECTION_PAGE notifier erases the whole mirror, restores every device-exclusive entry and
 * write-protects every page on both sides.
 */
export function* fork(
  ctx: SimContext,
  th: Thread,
  rate: Rate,
  write: boolean,
): Generator<Yield, void, void> {
  const { region: R, lines: L, rng, sched } = ctx;
  const { tid, cpu } = th;
  const S = RACER_STEPS.fork;
  while (yield* ready(ctx, th, rate)) {
    ctx.racerOps++;
    L.cloneEnter(tid, cpu);
    const wait = ctx.mmapWriteLock(th);
    if (wait) yield wait;
    // dup_mmap up to its first notifier, then the VMAs before the region's, the region's copy, the
    // rest until mmap_write_unlock.
    const work = draw(ctx.contention.writerWork, rng) + step(rng, S.toCopy);
    const hold = draw(ctx.contention.writerHold, rng);
    yield work;
    const pid = ctx.nextPid++;
    const c = R.fork(th, { tid: pid, cpu });
    yield Math.max(1, hold - work);
    ctx.mmapWriteUnlock();
    yield step(rng, S.toNewTask);
    L.forkTask(tid, cpu, pid);
    L.schedFork(tid, cpu, pid);
    yield step(rng, S.toExit);
    L.cloneExit(tid, cpu, pid);
    // The parent sleeps in wait4 until the child has exited; the child runs on its CPU.
    let exited = false;
    ctx.spawn(pid, cpu, function* () {
      yield step(rng, S.childStart);
      L.cloneExit(pid, cpu, 0);
      if (write) {
        const n = rng.int(1, 8);
        const first = rng.int(0, R.npages - n);
        yield step(rng, S.childFirstWrite);
        for (let p = first; p < first + n; p++) {
          R.childWrite(c, p);
          yield step(rng, S.childWrite);
        }
      }
      yield step(rng, S.childToExit);
      L.exitGroup(pid, cpu);
      yield step(rng, S.exitToUnmap);
      R.childExit(c);
      yield step(rng, S.unmapToExit);
      L.processExit(pid, cpu);
      exited = true;
      sched.wake(ctx.thread(tid));
    });
    if (!exited) yield { block: true };
    L.processFree(tid, cpu, pid);
    yield step(rng, S.next);
  }
}

/**
 * race.c `migrate`: move_pages(2) of up to 4 pages that /proc/self/pagemap shows present among
 * up to 32 of the request in flight, to the other node (a query move_pages first). migrate_pages
 * in MIGRATE_SYNC mode (6.12 migrate_pages_sync): one batch in MIGRATE_ASYNC mode first (per
 * folio: a target, folio_trylock, try_to_migrate; then up to 3 passes of migrate_folio; a pinned
 * folio fails with -EAGAIN and is mapped back), then each folio left, one at a time in sync mode
 * (folio_lock sleeps until whoever holds it lets go; 7 passes). The folio stays locked from its
 * lock to its undo or move: a walk's folio_trylock fails meanwhile, and a fault on the migration
 * entry (GUP's included) sleeps until the unlock.
 */
export function* migrate(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, rng, sched } = ctx;
  const { tid, cpu } = th;
  const S = RACER_STEPS.migrate;
  while (yield* ready(ctx, th, rate)) {
    yield step(rng, S.pagemap);
    const req = ctx.request;
    if (!ctx.inFlight || !req) continue;
    const k = Math.min(32, req.n);
    const start = req.p0 + rng.int(0, req.n - k);
    const pages: number[] = [];
    for (let p = start; p < start + k && pages.length < 4; p++) if (R.isPresent(p)) pages.push(p);
    // Nothing present: look again (race.c logs nothing).
    if (!pages.length) continue;
    ctx.racerOps++;
    L.movePagesEnter(tid, cpu, 1, false);
    yield step(rng, S.query);
    L.movePagesExit(tid, cpu, 0);
    L.movePagesEnter(tid, cpu, pages.length, true);
    yield step(rng, S.isolate);
    const isolated: [number, Folio][] = [];
    for (const p of pages) {
      const f = R.isolateForMigration(p);
      if (f) isolated.push([p, f]);
    }
    let failed = 0;
    if (isolated.length) {
      L.migratePages(tid, cpu);
      yield step(rng, S.toStart);
      L.migratePagesStart(tid, cpu);
      for (const [, f] of isolated) f.migrating = true;
      yield step(rng, S.toFirst);
      const retry: [number, Folio][] = [];
      // migrate_folio_unmap, MIGRATE_ASYNC: a folio someone holds is left for the sync pass.
      let batch: { p: number; f: Folio; dst: Folio; mapped: boolean }[] = [];
      for (const [p, f] of isolated) {
        const dst = R.migrationTarget(th);
        yield step(rng, S.alloc);
        if (!R.tryLock(f, 'migration')) {
          R.put(th, dst);
          retry.push([p, f]);
          continue;
        }
        f.migrating = false;
        batch.push({ p, f, dst, mapped: R.tryToMigrate(th, f, p) });
        yield step(rng, S.nextUnmap);
      }
      yield step(rng, S.toMove);
      const moveOrUndo = function* (
        b: { p: number; f: Folio; dst: Folio; mapped: boolean },
        moved: boolean,
      ): Generator<Yield, void, void> {
        if (moved) {
          if (b.mapped) R.removeMigrationPtes(th, b.f, b.dst, b.p);
          R.unlockFolio(th, b.dst, '0x400000000000001');
          R.put(th, b.dst);
          R.unlockFolio(th, b.f, '0x2081d');
          R.putBack(th, b.f);
        } else {
          if (b.mapped) R.removeMigrationPtes(th, b.f, b.f, b.p);
          R.unlockFolio(th, b.f, '0x2081d');
          R.unlockFolio(th, b.dst, '0x400000000000001');
          R.put(th, b.dst);
        }
        yield step(rng, S.undo);
      };
      const passes = function* (
        list: typeof batch,
        n: number,
        mode: number,
      ): Generator<Yield, typeof batch, void> {
        let left = list;
        for (let pass = 0; pass < n && left.length; pass++) {
          const again: typeof batch = [];
          for (const b of left) {
            const ret = R.migrateFolio(th, b.f, b.dst, mode);
            yield step(rng, S.attempt);
            if (ret === 0) yield* moveOrUndo(b, true);
            else again.push(b);
          }
          left = again;
        }
        return left;
      };
      batch = yield* passes(batch, 3, 0);
      for (const b of batch) {
        yield* moveOrUndo(b, false);
        // Unlocked, left for the sync pass (the replay's window for it runs on).
        b.f.migrating = true;
        retry.push([b.p, b.f]);
      }
      // migrate_pages_sync's fallback: one folio at a time, MIGRATE_SYNC (folio_lock sleeps).
      for (const [p, f] of retry) {
        const dst = R.migrationTarget(th);
        yield step(rng, S.alloc);
        while (!R.tryLock(f, 'migration')) {
          f.waiters.push(() => sched.wake(ctx.thread(tid)));
          yield { block: true };
        }
        f.migrating = false;
        const b = { p, f, dst, mapped: R.tryToMigrate(th, f, p) };
        yield step(rng, S.toMove);
        const left = yield* passes([b], 7, 2);
        if (left.length) {
          yield* moveOrUndo(b, false);
          failed++;
          R.putBack(th, f);
        }
      }
      yield step(rng, S.end);
      L.migratePagesEnd(tid, cpu, isolated.length - failed, failed);
      yield step(rng, S.ret);
      L.migratePagesReturn(tid, cpu, failed);
    }
    yield step(rng, S.exit);
    L.movePagesExit(tid, cpu, failed);
  }
}

/**
 * race.c `pageout`: MADV_PAGEOUT of 1-4 random contiguous pages. The pte walk isolates the pages
 * mapped here only; reclaim_pages then takes each in turn (shrink_folio_list): folio_trylock (a
 * folio someone holds is kept), add_to_swap, try_to_unmap (the PTE becomes a swap entry, even
 * while GUP holds the page), swap_writepage (the folio is locked until the write starts).
 */
export function* pageout(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, rng } = ctx;
  const { tid, cpu } = th;
  const S = RACER_STEPS.pageout;
  while (yield* ready(ctx, th, rate)) {
    ctx.racerOps++;
    const k = rng.int(1, 4);
    const a = rng.int(0, R.npages - k);
    const culprit = L.madviseEnter(tid, cpu, R.va(a), k * 4096, MADV_PAGEOUT);
    yield step(rng, S.isolate);
    const isolated = R.isolateForPageout(a, k);
    yield step(rng, S.reclaim);
    L.reclaimPages(tid, cpu);
    yield step(rng, S.first);
    let applied = false;
    for (const [p, f] of isolated) {
      if (R.tryLock(f, 'reclaim')) {
        const mapped = R.isPresent(p) && R.folio[p] === f;
        if (mapped && !applied) {
          // The replay applies the whole MADV_PAGEOUT at this first notifier.
          R.pageoutApplied(a, k);
          applied = true;
        }
        R.reclaimUnmap(th, f, p, culprit);
        yield step(rng, S.toWrite);
        R.reclaimWrite(th, f);
        yield step(rng, S.written);
      }
      R.putBack(th, f);
      yield step(rng, S.next);
    }
    L.reclaimPagesReturn(tid, cpu, 0);
    yield step(rng, S.exit);
    // With no notifier, the replay applies it at the return.
    if (!applied) R.pageoutApplied(a, k);
    L.madviseExit(tid, cpu);
    yield step(rng, S.gap);
  }
}

/**
 * race.c `ksm`: the region is MADV_MERGEABLE and every page holds the same bytes; ksmd is the
 * racer, whatever the driver does. It scans the region in address order, `batch` pages a
 * round then sleeps (`rate`: pages scanned per second instead). The first scan only records each
 * page; from the second on, the first page found becomes the KSM page (write_protect_page) and
 * every other present page is merged into it (try_to_merge_one_page: trylock,
 * write_protect_page, replace_page, unlock; the replaced page is freed by ksmd's put). A page GUP
 * holds fails write_protect_page's reference check and stays as it was.
 */
export function* ksmd(ctx: SimContext, th: Thread, rate: Rate): Generator<Yield, void, void> {
  const { region: R, lines: L, rng } = ctx;
  const { tid, cpu } = th;
  const S = RACER_STEPS.ksm;
  let kpage: Folio | null = null;
  for (let seq = 0; !ctx.finished; seq++) {
    L.ksmScan(tid, cpu, true, seq, seq ? R.npages : 0);
    for (let p = 0; p < R.npages && !ctx.finished; p++) {
      if (p % S.batch === 0 && p) yield rate === 'lab' ? step(rng, S.sleep) : 1;
      if (rate !== 'lab') yield Math.max(1, Math.round(rng.exp(1e6 / rate)));
      if (kpage?.freed || (kpage && kpage.mapcount === 0)) kpage = null;
      const f = seq ? R.mergeable(p) : null;
      if (!f) {
        yield step(rng, S.skip);
        continue;
      }
      ctx.racerOps++;
      const k = kpage;
      L.tryToMerge(tid, cpu, f.pfn, k?.pfn ?? null, f.refs);
      let err = -14;
      if (R.tryLock(f, 'ksm')) {
        yield step(rng, S.toProtect);
        R.ksmProtectStart(th, f, p);
        yield step(rng, S.protect);
        err = R.ksmProtect(th, f, p, k);
        if (!err && k) {
          yield step(rng, S.replace);
          err = R.ksmReplace(th, f, p, k);
        }
        yield step(rng, S.unlock);
        R.unlockFolio(th, f, '0x400000000020039');
      }
      yield step(rng, S.ret);
      L.tryToMergeReturn(tid, cpu, err, f.pfn, k?.pfn ?? null);
      yield step(rng, S.merged);
      L.ksmMerge(tid, cpu, k?.pfn ?? f.pfn, k !== null, err);
      if (!err && !k) kpage = f;
      if (k) L.folioUnlock(tid, cpu, k.pfn, '0x40000000002003d');
      R.put(th, f);
      // The replay has the merge now (the tracepoint, and the replaced page's free).
      R.ksmPending[p] = 0;
      if (k) L.folioUnlock(tid, cpu, k.pfn, '0x40000000002003d');
      yield step(rng, S.done);
      yield step(rng, S.next);
    }
    L.ksmScan(tid, cpu, false, seq, R.npages);
    yield rate === 'lab' ? step(rng, S.sleep) : 1;
  }
}
