// get_user_pages_remote inside a call (FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD, mm/gup.c): each page
// pinned when the trace shows GUP reach it, faulting in what is missing or read-only.
import type { DeviceExclusive } from '../device_exclusive.js';
import type { ReplayEvent } from '../adapter.js';
import { rss_batch_begin, rss_batch_point } from '../memory.js';
import { PAGE_SIZE, type Mm, type Task } from '../types.js';
import { pinTime, pinWindow, type GupPlan } from './gup_plan.js';
import { remove_device_exclusive_entry, wakeOn } from './restore.js';
import { walkNext } from './make_device_exclusive_range.js';
import type { Call, GupPage } from './types.js';
import { __split_huge_pmd } from '../huge_memory.js';
import { find_vma } from '../vma.js';

/** Entry of get_user_pages_remote inside a call: pinning begins (FOLL_GET|FOLL_WRITE|FOLL_SPLIT_PMD). */
export function gupEnter(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const c = dx.requests.get(t.tid)?.call;
  if (!c || c.gupStarted || dx.design === '6.15') return;
  c.gupStarted = true;
  rss_batch_begin(c.req.mm);
  c.plan = dx.gupPlans.get(e.id) ?? null;
  dx.active.add(c);
  advanceTo(dx, e);
}

export function gupReturn(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const c = dx.requests.get(t.tid)?.call;
  if (!c || c.gupDone !== null) return;
  // GUP has returned: a fault that waited for a folio lock got it by now.
  while (!c.gupStopped && c.gup.length < c.npages)
    if (gupOne(dx, c, false) !== true) c.gupStopped = true;
  c.gupCount = c.gup.length;
  c.gupDone = e.ts;
  dx.active.delete(c);
  if (dx.walkUntraced && !dx.flushesSeen && c.plan?.callEnd) dx.walking.add(c);
}

/**
 * Where no probe shows the walk, page i of n is walked at gupDone + (i + 1) / (n + 1) of the way
 * to the call's return (the walk's pace taken as even): an inference, not deciding every page
 * at the return, after racers the real walk had already passed.
 */
export function walkTime(dx: DeviceExclusive, c: Call, i: number): bigint {
  const span = c.plan!.callEnd! - c.gupDone!;
  return c.gupDone! + (span * BigInt(i + 1)) / BigInt(c.gup.length + 1);
}

/**
 * GUP walks the range in order; the trace shows where it is only at its start, at each fault it
 * takes (folio_add_new_anon_rmap in the caller, with the address) and at its return. Pages in
 * between are pinned at times interpolated linearly between those anchors (an inference: under
 * emulation GUP takes ~15 us a page). The replay calls dx before each event.
 */
export function advanceTo(dx: DeviceExclusive, e: ReplayEvent): void {
  const ts = e.ts;
  const tid = e.tid;
  if (dx.woken.length && dx.woken.some((w) => w.tid === tid)) wakeOn(dx, e);
  for (const c of dx.walking) {
    if (c.req.call !== c) {
      dx.walking.delete(c);
      continue;
    }
    c.walkTiming = 'interpolated';
    while (c.next < c.gup.length && walkTime(dx, c, c.next) <= ts)
      walkNext(dx, c, { ts: walkTime(dx, c, c.next) } as ReplayEvent, true);
    if (c.next >= c.gup.length) dx.walking.delete(c);
  }
  for (const c of dx.active) {
    const plan = c.plan;
    if (c.blocked && tid !== c.req.task.tid) continue;
    c.blocked = false;
    while (!c.gupStopped && c.gup.length < c.npages) {
      const when = plan ? pinTime(plan, c.gup.length) : c.ts;
      if (when > ts) break;
      const ok = gupOne(dx, c, true);
      // A fault waiting for a folio another call holds: GUP goes on once it is released.
      if (ok === 'wait') {
        c.blocked = true;
        break;
      }
      if (!ok) c.gupStopped = true;
    }
    c.gupCount = c.gup.length;
  }
}

/** The plans of the GUPs that begin in the current batch of events, by entry event id (gup-plans.ts). */
export function setGupPlans(dx: DeviceExclusive, plans: Map<number, GupPlan>): void {
  dx.gupPlans = plans;
}

export function needsFault(dx: DeviceExclusive, c: Call): boolean {
  const p = dx.m.pte(c.req.mm, c.start + c.gup.length * PAGE_SIZE);
  return !p || p.kind !== 'present' || !p.write || p.pmd;
}

export function gupOne(dx: DeviceExclusive, c: Call, wait: boolean): boolean | 'wait' {
  const ok = gupPin(dx, c, wait);
  const g = c.gup[c.gup.length - 1];
  if (ok === true && g) {
    g.pinTs = dx.m.now;
    if (c.plan) [g.pinLo, g.pinHi] = pinWindow(c.plan, c.gup.length - 1);
  }
  return ok;
}

export function gupPin(dx: DeviceExclusive, c: Call, wait: boolean): boolean | 'wait' {
  const i = c.gup.length;
  const va = c.start + i * PAGE_SIZE;
  const plan = c.plan;
  if (
    plan &&
    plan.faultsTraced &&
    needsFault(dx, c) &&
    !plan.faults.some((f) => f.index === i) &&
    !plan.reached.some((f) => f.index === i)
  ) {
    // The model would fault dx page in, but the trace shows GUP took no fault here: GUP passed
    // it before it was zapped, and pinned the page that was mapped then.
    const last = c.req.mm.lastUnmapped.get(va);
    if (last && last.ts >= plan.start) {
      dx.m.reviveFolio(last.folio);
      dx.m.folio_get(last.folio);
      c.gup.push({ va, folio: last.folio, index: 0 });
      return true;
    }
  }
  // Whether the trace shows dx page's fault map a new anonymous page (null: it cannot tell).
  const newAnon = plan?.newAnonTraced ? plan.faults.some((f) => f.index === i) : null;
  const g = follow_page(dx, c.req.task, va, newAnon, wait);
  if (g === 'wait') return g;
  if (!g) return false;
  c.gup.push(g);
  return true;
}

/**
 * One page of get_user_pages_remote with FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD (mm/gup.c
 * __get_user_pages): split a PMD mapping, fault in what is missing or read-only (breaking COW),
 * and take a reference; null where GUP stops (no VMA, not writable).
 */
export function follow_page(
  dx: DeviceExclusive,
  task: Task,
  va: number,
  newAnon: boolean | null = null,
  wait = false,
): GupPage | null | 'wait' {
  const m = dx.m;
  const mm = task.mm!;
  const vma = find_vma(mm, va);
  // check_vma_flags: FOLL_WRITE needs VM_WRITE.
  if (!vma || !vma.write) return null;
  let pte = m.pte(mm, va);
  if (pte?.kind === 'device_exclusive' && pte.folio?.locked) {
    // Another call's entry, its folio still locked: do_swap_page sleeps in folio_lock_or_retry
    // and restores the entry once the lock is released.
    if (wait) return 'wait';
    remove_device_exclusive_entry(dx, mm, vma, va, pte);
    pte = m.pte(mm, va);
  }
  if (pte?.kind === 'migration' && pte.folio) {
    // do_swap_page -> migration_entry_wait: GUP sleeps until the migration lets go of the folio,
    // then retries. Where GUP's return comes first in the trace, it pinned the page it found.
    if (wait) return 'wait';
    m.folio_get(pte.folio);
    return { va, folio: pte.folio, index: pte.index };
  }
  if (pte?.pmd) {
    __split_huge_pmd(m, mm, va);
    pte = m.pte(mm, va);
  }
  if (!pte || pte.kind !== 'present' || !pte.write) {
    // faultin_page -> handle_mm_fault(FAULT_FLAG_WRITE); GUP faults raise no page_fault_user.
    dx.gupFault(task, vma, va, true, newAnon);
    rss_batch_point(mm);
    pte = m.pte(mm, va);
    if (!pte || pte.kind !== 'present' || !pte.write) return null;
  }
  m.folio_get(pte.folio!);
  return { va, folio: pte.folio, index: pte.index };
}

/** get_user_pages_remote of a whole range at once (6.15's single-page calls). */
export function get_user_pages_remote(
  dx: DeviceExclusive,
  task: Task,
  start: number,
  npages: number,
): GupPage[] {
  const out: GupPage[] = [];
  rss_batch_begin(task.mm!);
  for (let i = 0; i < npages; i++) {
    const g = follow_page(dx, task, start + i * PAGE_SIZE);
    if (!g || g === 'wait') break;
    out.push(g);
  }
  return out;
}

/** folio_add_new_anon_rmap(folio, vma, address): the PFN of a page a (GUP) fault just mapped. */
export function newAnonRmap(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const mm = t.mm;
  const { pfn, address } = e;
  if (!mm || pfn === null || address === null) return;
  const va = address - (address % PAGE_SIZE);
  const p = dx.m.pte(mm, va);
  if (p?.kind === 'present' && p.folio && !p.folio.zero) {
    if (p.folio.pfnConfidence !== 'observed') dx.m.setPfn(p.folio, pfn, 'observed');
  } else dx.rmapAhead.set(`${mm.id}:${va}`, pfn);
}

/** The PFN a GUP fault mapped, when its rmap kprobe fired before the model's GUP reached va. */
export function takeRmapAhead(dx: DeviceExclusive, mm: Mm, va: number): number | undefined {
  const key = `${mm.id}:${va}`;
  const pfn = dx.rmapAhead.get(key);
  dx.rmapAhead.delete(key);
  return pfn;
}
