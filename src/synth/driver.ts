// The driver thread: the race program's main thread issuing lib/test_hmm.c's
// HMM_DMIRROR_EXCLUSIVE, and dmirror_exclusive() calling make_device_exclusive_range() on chunks
// of at most 64 pages (6.12), each a GUP pass then one rmap walk per page.
import { draw } from './costs.js';
import type { Folio } from './kernel.js';
import type { SimContext } from './context.js';
import type { Yield } from './scheduler.js';

const CHUNK = 64;
const EBUSY = -16;
const ENOENT = -2;
/** The mirror's file descriptor in the race program (its first open, after stdio). */
const MIRROR_FD = 3;

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
          const f = R.gupPin(th, p);
          const pinAt = sched.now;
          yield draw(C.walkPerPage, rng);
          const v = R.walk(th, p, f);
          if (!v.ok) continue;
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
      const t0 = sched.now;
      const g = draw(C.gupPerPage, rng);
      const pinned: Folio[] = new Array(k);
      const pinTs: number[] = new Array(k);
      for (let i = 0; i < k; i++) {
        sched.at(
          t0 + (i + 1) * g * 1000,
          () => {
            pinned[i] = R.gupPin(th, c0 + i);
            pinTs[i] = sched.now;
          },
          0,
        );
      }
      yield k * g;
      L.gupReturn(tid, cpu, k, R.va(c0), k);
      yield draw(C.walkFirst, rng);
      const ok: boolean[] = new Array(k);
      for (let i = 0; i < k; i++) {
        if (i > 0) yield draw(C.walkPerPage, rng);
        const v = R.walk(th, c0 + i, pinned[i]);
        ok[i] = v.ok;
        if (!v.ok) failedPages++;
        truth.page({
          requestId,
          callId,
          idx: i,
          address: R.va(c0 + i),
          pfn: pinned[i].pfn,
          outcome: v.ok ? 'exclusive' : 'failed',
          cause: v.cause,
          culpritLine: v.ok ? null : v.culprit,
          pinTs: pinTs[i],
          walkTs: sched.now,
        });
      }
      yield draw(C.walkLast, rng);
      L.callReturn(
        tid,
        cpu,
        k,
        R.va(c0),
        pinned.map((f, i) => (ok[i] ? f.pfn : null)),
      );
      // dmirror_exclusive: GUP returned the whole chunk, so its converted pages are mapped into the
      // mirror; then every page is unlocked and put; a short chunk ends the request (-EBUSY).
      for (let i = 0; i < k; i++) if (ok[i]) R.mirrorMap(c0 + i);
      for (let i = 0; i < k; i++) if (ok[i]) R.unlock(th, pinned[i]);
      if (ok.includes(false)) {
        result = EBUSY;
        break;
      }
      if (c0 + k < p0 + n) yield draw(C.callGap, rng);
    }
    let enoentPages = 0;
    if (result === 0) {
      // dmirror_bounce_init's vmalloc, then dmirror_do_read through the mirror.
      yield draw(C.callToRead, rng);
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
