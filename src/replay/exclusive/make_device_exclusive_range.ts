// make_device_exclusive_range (5.14-6.14, mm/rmap.c; and the v8 series): GUP pins the whole chunk,
// then each page is trylocked and walked through the rmap; a call's pages are scored at its return.
import type { DeviceExclusive } from '../device_exclusive.js';
import type { ReplayEvent } from '../adapter.js';
import { rmapKey } from '../model.js';
import { PAGE_SIZE, type Folio, type Pte, type Task } from '../types.js';
import { finishRequest, implicitRequest, missing } from './test_hmm.js';
import { gupEnter, gupReturn } from './gup.js';
import { unlockLater } from './restore.js';
import { folio_make_device_exclusive } from './folio_make_device_exclusive.js';
import { make_device_exclusive } from './make_device_exclusive.js';
import { EBUSY, EFAULT, EOPNOTSUPP, type Call, type Cause, type GupPage } from './types.js';

/** Entry of make_device_exclusive_range(mm, start, end, pages, owner): one 64-page chunk. */
export function callEnter(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  let r = dx.requests.get(t.tid);
  if (r?.call) finishCall(dx, r.call, e);
  const start = e.start!;
  // An implicit request goes on while its calls chain (dmirror_exclusive's next chunk starts
  // where the last ended, within the announced range where a marker gave one).
  if (
    r?.implicit &&
    !(start === r.nextStart && (!r.announced || start < r.start! + r.npages! * PAGE_SIZE))
  ) {
    finishRequest(dx, r, r.lastReturn ?? e.ts, null);
    r = undefined;
  }
  r ??= implicitRequest(dx, e, t);
  r.readMissing = null;
  r.readTimed = false;
  r.readAt = null;
  r.readEarliest = null;
  r.readRace = false;
  const npages = Math.round((e.end! - start) / PAGE_SIZE);
  r.start ??= start;
  if (!r.announced && start >= r.start)
    r.npages = Math.max(r.npages ?? 0, Math.round((start - r.start) / PAGE_SIZE) + npages);
  r.calls++;
  r.call = {
    id: dx.nextCall++,
    req: r,
    ts: e.ts,
    start,
    npages,
    gupStarted: false,
    gupStopped: false,
    pending: null,
    blocked: false,
    plan: null,
    gupDone: null,
    gup: [],
    gupCount: 0,
    next: 0,
    results: new Array(npages).fill(null),
    walked: 0,
    walkTiming: 'call_return',
  };
  // Untraced GUP starts at the entry and ends at the call's first traced walk; with no walk
  // traced either, it pins the chunk at the entry: GUP is a small part of a call (median 3-23 %
  // of its time in the 6.12-r3 lab, set C), the rmap walks take the rest.
  if (!dx.gupTraced) {
    gupEnter(dx, e, t);
    if (dx.walkUntraced) gupReturn(dx, e, t);
  }
}

/** Return of make_device_exclusive_range: remaining pages, the wrapper's mirror map and -EBUSY rule. */
export function callReturn(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const c = dx.requests.get(t.tid)?.call;
  if (!c) return;
  // Observed only: ret and the page array (NULL slot = failed page).
  const slots = (e.pages ?? '').replace(/[{}]/g, '').split(',').filter(Boolean);
  finishCall(dx, c, e, e.ret, slots);
}

export function finishCall(
  dx: DeviceExclusive,
  c: Call,
  e: ReplayEvent,
  observedRet: number | null = null,
  slots: string[] = [],
): void {
  const r = c.req;
  r.call = null;
  r.nextStart = c.start + c.npages * PAGE_SIZE;
  r.lastReturn = e.ts;
  if (c.gupStarted && c.gupDone === null) {
    r.call = c;
    gupReturn(dx, e, r.task);
    r.call = null;
  }
  walkNext(dx, c, e, false);
  for (let i = 0; i < c.npages; i++) {
    if (!c.results[i]) {
      c.results[i] = {
        callId: c.id,
        index: i,
        address: c.start + i * PAGE_SIZE,
        gupPfn: null,
        outcome: 'failed',
        cause: 'gup_short',
        culpritEvent: null,
        culpritTid: null,
        culpritTs: null,
        windowNs: null,
        walkTs: null,
        pinTs: null,
        pinLo: null,
        pinHi: null,
        observed: null,
      };
    }
  }
  const ok = c.results.filter((p) => p!.outcome === 'exclusive');
  const ret = dx.design === '6.15' ? (ok.length === c.npages ? c.npages : ok.length) : c.gupCount;
  const failed = c.npages - ok.length;
  r.failedPages += failed;
  // dmirror_exclusive (6.12): map only if GUP returned the whole chunk, then unlock and put every
  // page; if fewer than the chunk were mapped, -EBUSY at once. (6.15+: the first error returns.)
  const mirror = r.mirror;
  let mapped = 0;
  if (ret === c.npages && mirror) {
    for (const p of ok) {
      mirror.add(Math.floor(p!.address / PAGE_SIZE));
      mapped++;
    }
  }
  for (const g of c.gup) {
    if (!g.folio || c.results[c.gup.indexOf(g)]?.outcome !== 'exclusive') continue;
    unlockLater(dx, g.folio, r);
  }
  if (dx.design === '6.15') {
    for (const p of ok) {
      const f = dx.m.pte(r.mm, p!.address)?.folio;
      if (f) unlockLater(dx, f, r);
    }
    if (mapped < c.npages && r.predicted === null)
      r.predicted = c.results.find((p) => p!.cause === 'gup_short')
        ? EFAULT
        : c.results.find((p) => p!.cause === 'not_anon')
          ? EOPNOTSUPP
          : EBUSY;
  } else if (mapped < c.npages && r.predicted === null) r.predicted = EBUSY;
  if (r.predicted === null) r.readMissing = r.readEarliest = missing(dx, r);
  slots.forEach((s, i) => {
    if (i < c.npages && (observedRet === null || i < observedRet) && c.results[i])
      c.results[i]!.observed = /^0x0+$|^0$/.test(s) ? 'failed' : 'exclusive';
  });
  if (observedRet !== null && observedRet < c.npages) {
    for (let i = Math.max(observedRet, 0); i < c.npages; i++)
      if (c.results[i]) c.results[i]!.observed = 'failed';
  }
  for (const p of c.results) dx.out.page(p!);
  dx.out.call({
    callId: c.id,
    requestId: r.id,
    ts: c.ts,
    dur: e.ts - c.ts,
    start: c.start,
    npages: c.npages,
    gupCount: c.gupCount,
    result: ret,
    failedPages: failed,
    observedResult: observedRet,
    observedFailed: slots.length ? c.results.filter((p) => p!.observed === 'failed').length : null,
    walkTiming: c.walkTiming,
  });
}

/** rmap_walk inside a call (5.14 design): the next page the walk reaches is walked now. */
export function rmapWalk(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const c = dx.requests.get(t.tid)?.call;
  if (!c) return;
  if (c.gupStarted && c.gupDone === null) gupReturn(dx, e, t);
  c.walkTiming = 'rmap_walk';
  // The folio is trylocked before rmap_walk; its PTEs are read when the walk reaches them (the
  // anon_vma lock can keep it waiting for ms), which page_make_device_exclusive_one shows.
  walkNext(dx, c, e, true, dx.mappingTraced);
}

/**
 * page_make_device_exclusive_one(folio, vma, address, args): the walk reads the folio's PTEs now.
 * Where rmap_walk is traced, dx settles the page it began; else the walk has reached the page at
 * `address`, so it and every page before it are walked by now.
 */
export function walkReached(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const c = dx.requests.get(t.tid)?.call;
  if (!c) return;
  if (c.gupStarted && c.gupDone === null) gupReturn(dx, e, t);
  if (dx.rmapWalkTraced) {
    const g = c.pending === null ? null : c.gup[c.pending];
    const f = g?.folio;
    if (!g || !f) return;
    // The walked folio, by its PFN; where the trace never named it (no allocation events), by address.
    const { pfn, address } = e;
    if (f.pfn !== null ? pfn !== null && f.pfn === pfn : address === g.va) {
      if (f.pfn === null && pfn !== null) dx.m.setPfn(f, pfn, 'observed');
      settle(dx, c, e.ts);
    }
    return;
  }
  if (e.address === null) return;
  const idx = Math.floor((e.address - c.start) / PAGE_SIZE);
  if (idx < c.next || idx >= c.npages) return;
  c.walkTiming = 'rmap_walk';
  while (c.next <= idx && c.next < c.gup.length) walkNext(dx, c, e, true);
}

/** arch/x86/include/asm/tlbflush.h TLB_LOCAL_MM_SHOOTDOWN: a flush of the current mm on this CPU. */
export const TLB_LOCAL_MM_SHOOTDOWN = 3;

/**
 * tlb:tlb_flush of one page in the caller, past GUP, where no probe shows the walk:
 * page_make_device_exclusive_one's ptep_clear_flush of a page it is making exclusive (a page
 * whose PTE no longer maps the pinned folio is skipped without one). So the walk has reached,
 * by now, the first page from c.next the model finds it can make exclusive: that page and every
 * page before it are decided now. Pages after the last flush are decided at the call's return.
 * Until a call shows one, walks are interpolated (a caller that only flushes remotely has none).
 */
export function walkFlushed(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  if (!dx.walkClock || e.tlb_reason !== TLB_LOCAL_MM_SHOOTDOWN || e.tlb_pages !== 1) return;
  const c = dx.requests.get(t.tid)?.call;
  if (!c || c.gupDone === null || dx.design === '6.15') return;
  dx.flushesSeen = true;
  dx.walking.delete(c);
  c.walkTiming = 'tlb_flush';
  while (c.next < c.gup.length) {
    walkNext(dx, c, e, true);
    if (c.results[c.next - 1]?.outcome === 'exclusive') return;
  }
}

/**
 * Decides pages in order up to and including the next one whose walk reaches rmap_walk; with
 * `one` false, decides every remaining page.
 */
export function walkNext(
  dx: DeviceExclusive,
  c: Call,
  e: ReplayEvent,
  one: boolean,
  hold = false,
): void {
  if (dx.design === '6.15') {
    make_device_exclusive(dx, c, e, one);
    return;
  }
  settle(dx, c, e.ts);
  while (c.next < c.gup.length) {
    const i = c.next++;
    const g = c.gup[i];
    const pre = beforeWalk(dx, g) ?? (one ? null : heldByFlushedWalk(dx, c, g.folio!));
    if (pre) {
      result(dx, c, i, g, 'failed', pre, e.ts);
      continue;
    }
    if (hold) {
      // folio_trylock succeeded: held until its PTEs are read.
      g.folio!.locked = true;
      c.pending = i;
      return;
    }
    folio_make_device_exclusive(dx, c, i, g, e.ts);
    if (one) return;
  }
}

/** The page whose walk began (rmap_walk) is decided now: the trace shows it read its PTEs, or moved on. */
export function settle(dx: DeviceExclusive, c: Call, ts: bigint): void {
  if (c.pending === null) return;
  const i = c.pending;
  c.pending = null;
  folio_make_device_exclusive(dx, c, i, c.gup[i], ts);
}

/**
 * Walks timed by TLB flushes, a call's remaining pages decided at its return: another call past GUP
 * whose next page to walk is f holds f's lock (trylocked before its walk, released after the flush
 * the trace has not shown yet), so this call's folio_trylock failed.
 */
function heldByFlushedWalk(dx: DeviceExclusive, c: Call, f: Folio): Cause | null {
  if (!dx.flushesSeen) return null;
  for (const r of dx.requests.values()) {
    const o = r.call;
    if (o && o !== c && o.gupDone !== null && o.next < o.gup.length && o.gup[o.next].folio === f)
      return 'trylock_failed';
  }
  return null;
}

/** Failures decided before any rmap walk: tail page, folio lock held, not anonymous. */
export function beforeWalk(dx: DeviceExclusive, g: GupPage): Cause | null {
  const f = g.folio!;
  // 6.1+: PageTail fails at once; v8's trylock_page on a tail locks the head, held by then.
  if (f.order > 0 && g.index > 0) return dx.design === 'v8' ? 'trylock_failed' : 'tail_page';
  if (f.locked || migrationLocked(dx, f)) return 'trylock_failed';
  if (!f.anon) return 'not_anon';
  return null;
}

/**
 * migrate_pages_batch locks each folio (migrate_folio_unmap) before try_to_migrate shows it:
 * from the batch's mm_migrate_pages_start on, a folio that try_to_migrate names later is held.
 */
export function migrationLocked(dx: DeviceExclusive, f: Folio): boolean {
  if (f.pfn === null) return false;
  const now = dx.m.now;
  return (dx.migrationLocks.get(f.pfn) ?? []).some(([from, to]) => from <= now && now < to);
}

export function result(
  dx: DeviceExclusive,
  c: Call,
  i: number,
  g: GupPage,
  outcome: 'exclusive' | 'failed',
  cause: Cause,
  ts: bigint,
  expected?: Pte,
): void {
  let culprit: { eventId: number; ts: bigint; tid: number } | null = null;
  if (cause === 'replaced' && g.folio)
    culprit = g.folio.unmapped.get(rmapKey(c.req.mm.id, g.va)) ?? null;
  // The write-protecting event installed the read-only entry (its tid is filled in from events).
  if (cause === 'write_protected' && expected)
    culprit = { eventId: expected.sinceEvent, ts: expected.since, tid: -1 };
  c.results[i] = {
    callId: c.id,
    index: i,
    address: g.va,
    gupPfn: g.folio?.pfn ?? null,
    outcome,
    cause,
    culpritEvent: culprit?.eventId ?? null,
    culpritTid: culprit && culprit.tid >= 0 ? culprit.tid : null,
    culpritTs: culprit?.ts ?? null,
    windowNs: c.gupDone !== null ? ts - c.gupDone : null,
    walkTs: ts,
    pinTs: g.pinTs ?? null,
    pinLo: g.pinLo ?? null,
    pinHi: g.pinHi ?? null,
    observed: null,
  };
}
