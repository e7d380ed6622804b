// The driver thread: the race program's main thread issuing lib/test_hmm.c's
// HMM_DMIRROR_EXCLUSIVE, and dmirror_exclusive() calling make_device_exclusive_range() on chunks
// of at most 64 pages (6.12), each a GUP pass then one rmap walk per page.
import { draw } from './costs.js';
import type { Folio, Region, WalkResult } from './kernel.js';
import type { SimContext } from './context.js';
import type { Yield } from './scheduler.js';

const CHUNK = 64;
const EBUSY = -16;
const ENOENT = -2;
const EFAULT = -14;
/** The mirror's file descriptor in the race program (its first open, after stdio). */
const MIRROR_FD = 3;

/**
 * The known replay gap a page's truth rests on: a folio lock the replay cannot see (it knows a
 * call's and a migration's, which try_to_migrate shows; not ksmd's or reclaim's, whose trylocks
 * show nothing until later), which then parts its state from the kernel's at that address; or an
 * earlier such parting there.
 */
function gapOf(R: Region, p: number, v: WalkResult): string | null {
  if (v.holder === 'ksm' || v.holder === 'reclaim') R.taint[p] ??= `${v.holder}_lock`;
  // The replay takes a folio try_to_migrate names as held by its migration from the batch's
  // mm_migrate_pages_start on; a walk that locked it before the migration did (a folio the
  // MIGRATE_ASYNC pass could not lock waits for the MIGRATE_SYNC pass) is then failed by it.
  if (v.migrating) R.taint[p] ??= 'migration_window';
  return R.taint[p];
}

export function* driver(ctx: SimContext): Generator<Yield, void, void> {
  const { region: R, lines: L, costs: C, rng, sched, truth, scenario } = ctx;
  const th = ctx.driverThread;
  const { tid, cpu } = th;
  let callId = 0;
  for (let requestId = 1; ; requestId++) {
    const n = ctx.nextSize();
    if (n === null) break;
    const p0 = rng.int(0, R.npages - n);
    const start = R.va(p0);
    const ts = sched.now;
    L.marker(tid, cpu, 'RACE_BEGIN', scenario.name, requestId, start, n);
    L.ioctlEnter(tid, cpu, MIRROR_FD);
    ctx.beginRequest();
    ctx.request = { p0, n };
    const lock = ctx.mmapReadLock(th);
    if (lock) yield lock;
    yield draw(C.ioctlToCall, rng);
    let result = 0;
    let calls = 0;
    let failedPages = 0;
    if (ctx.design === '6.15') {
      // make_device_exclusive (6.15+ mm/rmap.c), one page per call: GUP one page, lock the folio
      // (sleeping), recheck under the PTE lock that the page is still mapped writable there, else
      // GUP again; then test_hmm maps it and unlocks it at once. No page is ever replaced.
      for (let p = p0; p < p0 + n; p++) {
        calls++;
        callId++;
        for (;;) {
          yield draw(C.gupPerPage, rng);
          const r = R.gupPin(th, p);
          if ('wait' in r) {
            r.wait.waiters.push(() => sched.wake(ctx.thread(tid)));
            yield { block: true };
            continue;
          }
          const f = r;
          const pinAt = sched.now;
          yield draw(C.walkPerPage, rng);
          const v = R.walk(th, p, f);
          if (!v.ok) {
            R.put(th, f);
            continue;
          }
          truth.page({
            requestId,
            callId,
            idx: 0,
            address: R.va(p),
            pfn: f.pfn,
            outcome: 'exclusive',
            cause: 'exclusive',
            culpritLine: null,
            pinTs: pinAt,
            walkTs: sched.now,
          });
          R.mirrorMap(p);
          R.unlock(th, f);
          R.put(th, f);
          break;
        }
      }
    }
    for (let c0 = ctx.design === '6.15' ? p0 + n : p0; c0 < p0 + n; c0 += CHUNK) {
      const k = Math.min(CHUNK, p0 + n - c0);
      calls++;
      callId++;
      L.callEnter(tid, cpu, R.va(c0), R.va(c0 + k));
      L.gupEnter(tid, cpu, R.va(c0), k);
      // GUP pins page i at T0 + (i + 1) * g: an even pace, so that the pages between its traced
      // anchors (entry, each fault it takes, return) are where linear interpolation puts them.
      // A read-only VMA stops it (check_vma_flags); a GUP that stops short keeps the chunk's pace
      // and returns at T0 + k * g all the same (the generator's choice: the replay interpolates
      // over the chunk), with the count it pinned, or -EFAULT for none. Where GUP must sleep on a
      // page (a migration entry, an entry whose folio someone holds locked), it retries that page
      // when the folio is unlocked, at W, and goes on at the same pace from there: page j at
      // W + (j - i) * g, the return with the last page.
      const t0 = sched.now;
      const g = draw(C.gupPerPage, rng);
      const reach = R.gupReach(c0, k);
      const pinned: Folio[] = new Array(reach);
      const pinTs: number[] = new Array(reach);
      let origin = { t: t0, i: -1 };
      const pinAt = (j: number) => origin.t + (j - origin.i) * g * 1000;
      let gupDone = false;
      let driverWaiting = false;
      let gen = 0;
      const scheduleEnd = () => {
        const mine = ++gen;
        sched.at(
          pinAt(k - 1),
          () => {
            if (mine !== gen) return;
            gupDone = true;
            if (driverWaiting) {
              driverWaiting = false;
              sched.wake(ctx.thread(tid));
            }
          },
          0.5,
        );
      };
      const pin = (i: number) => () => {
        const r = R.gupPin(th, c0 + i);
        if ('wait' in r) {
          gen++;
          r.wait.waiters.push(() => {
            origin = { t: sched.now, i };
            sched.at(sched.now, pin(i), 0);
            scheduleEnd();
          });
          return;
        }
        pinned[i] = r;
        pinTs[i] = sched.now;
        if (i + 1 < reach) sched.at(pinAt(i + 1), pin(i + 1), 0);
      };
      if (reach > 0) sched.at(pinAt(0), pin(0), 0);
      scheduleEnd();
      // GUP's return follows its last page at once: no thread waiting for this CPU comes between.
      yield { hold: k * g };
      if (!gupDone) {
        driverWaiting = true;
        yield { block: true };
      }
      const ret = reach > 0 ? reach : EFAULT;
      L.gupReturn(tid, cpu, ret, R.va(c0), k);
      yield draw(C.walkFirst, rng);
      const ok: boolean[] = new Array(k).fill(false);
      // A page whose folio_trylock fails is not walked: the next page's walk follows at once.
      let walked = false;
      for (let i = 0; i < reach; i++) {
        if (walked) yield draw(C.walkPerPage, rng);
        const v = R.walk(th, c0 + i, pinned[i]);
        walked = v.cause !== 'trylock_failed';
        ok[i] = v.ok;
        if (!v.ok) {
          failedPages++;
          R.put(th, pinned[i]);
        }
        truth.page({
          requestId,
          callId,
          idx: i,
          address: R.va(c0 + i),
          pfn: pinned[i].pfn,
          outcome: v.ok ? 'exclusive' : 'failed',
          cause: v.cause,
          culpritLine: v.ok || v.cause === 'trylock_failed' ? null : v.culprit,
          pinTs: pinTs[i],
          walkTs: sched.now,
          gap: gapOf(R, c0 + i, v),
        });
      }
      for (let i = reach; i < k; i++) {
        failedPages++;
        truth.page({
          requestId,
          callId,
          idx: i,
          address: R.va(c0 + i),
          pfn: null,
          outcome: 'failed',
          cause: 'gup_short',
          culpritLine: null,
          pinTs: null,
          walkTs: null,
        });
      }
      // The last walk to the return; after a page whose trylock failed (no walk), at once.
      yield walked || reach === 0 ? draw(C.walkLast, rng) : 1;
      L.callReturn(
        tid,
        cpu,
        ret,
        R.va(c0),
        pinned.map((f, i) => (ok[i] ? f.pfn : null)),
      );
      // dmirror_exclusive: only if GUP returned the whole chunk are its converted pages mapped into
      // the mirror; then every page is unlocked and put; a short chunk ends the request (-EBUSY).
      if (reach === k) for (let i = 0; i < k; i++) if (ok[i]) R.mirrorMap(c0 + i);
      for (let i = 0; i < reach; i++) {
        if (!ok[i]) continue;
        R.unlock(th, pinned[i]);
        R.put(th, pinned[i]);
      }
      if (ok.includes(false)) {
        result = EBUSY;
        break;
      }
      if (c0 + k < p0 + n) yield draw(C.callGap, rng);
    }
    // mmap_read_unlock: a waiting writer (mprotect, fork) gets the lock. Under the lab's TCG the
    // final read then comes milliseconds later (readAfterWriter), after the writer's notifiers.
    const contended = ctx.mmapReadUnlock();
    let enoentPages = 0;
    if (result === 0) {
      // dmirror_bounce_init's vmalloc, then dmirror_do_read through the mirror.
      ctx.beforeRead = true;
      yield draw(contended ? ctx.contention.readAfterWriter : C.callToRead, rng);
      ctx.beforeRead = false;
      L.vmalloc(tid, cpu, n * 4096);
      L.vmallocReturn(tid, cpu, n * 4096);
      enoentPages = R.missing(p0, n);
      if (enoentPages) result = ENOENT;
      L.vfree(tid, cpu);
      yield draw(C.readToExit, rng);
    } else yield draw(C.callGap, rng);
    L.ioctlExit(tid, cpu, result);
    L.marker(tid, cpu, 'RACE_END', scenario.name, requestId, start, n);
    ctx.endRequest();
    truth.request({
      requestId,
      ts,
      tid,
      start,
      npages: n,
      result,
      calls,
      failedPages,
      enoentPages,
    });
    yield draw(C.requestGap, rng);
  }
  ctx.finished = true;
  ctx.endRequest();
}
