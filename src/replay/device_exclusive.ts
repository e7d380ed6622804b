// Device-exclusive entries: make_device_exclusive_range (v8, and 5.14-6.14 as in mm/rmap.c of
// 6.12), make_device_exclusive (6.15+), lib/test_hmm.c's HMM_DMIRROR_EXCLUSIVE wrapper with its
// device mirror, and the CPU-side paths that meet an entry (fault, fork, zap, mprotect).
//
// Verdicts come from the model's own state at the moment each page is walked. Outcome-revealing
// events (the kretprobe's return value and page array, sys_exit_ioctl's value, the race program's
// result markers) are read only into the `observed_*` columns that score the model.
import type { ReplayEvent } from './adapter.js';
import { __split_huge_pmd, do_wp_page, rss_batch_begin, rss_batch_point } from './memory.js';
import { MMU_NOTIFY, presentPte, rmapKey, type Model } from './model.js';
import { PAGE_SIZE, type Folio, type Mm, type Pte, type Task, type Vma } from './types.js';

export type Design = 'v8' | '5.14' | '6.15';
export const DESIGNS: Design[] = ['v8', '5.14', '6.15'];

/** lib/test_hmm_uapi.h: HMM_DMIRROR_EXCLUSIVE = _IOWR('H', 0x05, struct hmm_dmirror_cmd) (40 bytes). */
export const HMM_DMIRROR_EXCLUSIVE = 0xc0284805;
const MIRROR_OWNER = 'test_hmm';
const ENOENT = -2;
const EBUSY = -16;
/** How close before test_hmm's final read an invalidation still races it for dmirror->mutex. */
const READ_RACE_NS = 10_000n;
const EFAULT = -14;
const EOPNOTSUPP = -95;

export type Cause =
  | 'exclusive'
  | 'trylock_failed'
  | 'tail_page'
  | 'not_anon'
  | 'replaced'
  | 'write_protected'
  | 'mapped_elsewhere'
  | 'gup_short'
  | 'not_called';

export interface PageRow {
  callId: number;
  index: number;
  address: number;
  gupPfn: bigint | null;
  outcome: 'exclusive' | 'failed';
  cause: Cause;
  culpritEvent: bigint | null;
  culpritTid: number | null;
  culpritTs: bigint | null;
  windowNs: bigint | null;
  walkTs: bigint | null;
  pinTs: bigint | null;
  pinLo: bigint | null;
  pinHi: bigint | null;
  observed: 'exclusive' | 'failed' | null;
}

export interface CallRow {
  callId: number;
  requestId: number;
  ts: bigint;
  dur: bigint;
  start: number;
  npages: number;
  gupCount: number;
  result: number;
  failedPages: number;
  observedResult: number | null;
  observedFailed: number | null;
  walkTiming: 'rmap_walk' | 'interpolated' | 'call_return';
}

export interface RequestRow {
  requestId: number;
  ts: bigint;
  dur: bigint;
  tid: number;
  mm: number;
  start: number | null;
  npages: number | null;
  predicted: number | null;
  observed: number | null;
  calls: number;
  failedPages: number;
  enoentPages: number;
  note: string | null;
}

export interface ExclusiveOutput {
  request(r: RequestRow): void;
  call(c: CallRow): void;
  page(p: PageRow): void;
}

interface GupPage {
  va: number;
  folio: Folio | null;
  /** Page index within its folio (non-zero: a tail page). */
  index: number;
  /** When the model pinned it, and the window the trace allows ([earliest, latest]). */
  pinTs?: bigint;
  pinLo?: bigint;
  pinHi?: bigint;
}

/** A CPU fault sleeping on the folio lock of a device-exclusive entry (folio_lock_or_retry). */
interface Waiter {
  tid: number;
  mm: Mm;
  va: number;
  write: boolean;
  folio: Folio;
}

interface Call {
  id: number;
  req: Request;
  ts: bigint;
  start: number;
  npages: number;
  gupStarted: boolean;
  gupStopped: boolean;
  /** The page whose rmap walk began and has not read its PTEs yet (index into gup). */
  pending: number | null;
  /** GUP sleeps on a folio lock; it wakes at its task's next event after the unlock. */
  blocked: boolean;
  plan: GupPlan | null;
  gupDone: bigint | null;
  gup: GupPage[];
  gupCount: number;
  next: number;
  results: (PageRow | null)[];
  walked: number;
  walkTiming: CallRow['walkTiming'];
}

interface Request {
  id: number;
  ts: bigint;
  task: Task;
  mm: Mm;
  /** The device page table the request maps into (its file's dmirror). */
  mirror: Set<number>;
  start: number | null;
  npages: number | null;
  calls: number;
  failedPages: number;
  predicted: number | null;
  observed: number | null;
  call: Call | null;
  /** Missing mirror pages when dmirror_do_read ran: after the last call, or after the bounce
   *  buffer's page allocations where the trace shows them (see pageAlloc). */
  readMissing: number | null;
  /** The read's time is traced (bounceAllocated), not inferred. */
  readTimed: boolean;
  /** An invalidation erased some of its pages within READ_RACE_NS before the final read. */
  readRace: boolean;
  /** Missing pages at the ioctl's return; differing from readMissing means an invalidation fell
   *  between the read and the return, so the trace cannot settle the verdict exactly. */
  /** No ioctl event opens it (a trace without syscall tracepoints, or a caller other than
   *  test_hmm): its calls, chained chunk after chunk, are the request. */
  implicit: boolean;
  /** Where the next chunk of an implicit request would start, and when its last call returned. */
  nextStart: number | null;
  lastReturn: bigint | null;
  /** The range came with the request (RACE_BEGIN); else it is the span of its calls so far. */
  announced: boolean;
}

/** When a GUP started and ended, and the pages it faulted in (index, time). */
export interface GupPlan {
  start: bigint;
  end: bigint | null;
  npages: number;
  /** Faults that mapped a new anonymous page (folio_add_new_anon_rmap). */
  faults: { index: number; ts: bigint }[];
  /** Other faults GUP took (do_swap_page, do_wp_page): GUP was at that page then. */
  reached: { index: number; ts: bigint }[];
  /** The trace has folio_add_new_anon_rmap, so a GUP fault would show. */
  faultsTraced: boolean;
  /** The call's return, where traced: the walk of its pages ends by then. */
  callEnd?: bigint | null;
}

/** Linear interpolation of page i's pin time between the plan's anchors. */
export function pinTime(p: GupPlan, i: number): bigint {
  return pinWindow(p, i)[2];
}

/**
 * The anchors around page i ([earliest, latest] it can have been pinned) and its pin time: the
 * last fault GUP took on page i, else interpolated between the faults before and after it (GUP
 * walks the range in order, so every page before a fault's is pinned by then).
 */
export function pinWindow(p: GupPlan, i: number): [bigint, bigint, bigint] {
  const marks = [...p.faults, ...p.reached]
    .filter((f) => f.index >= 0 && f.index < p.npages)
    .sort((x, y) => (x.ts < y.ts ? -1 : x.ts > y.ts ? 1 : 0));
  const end = p.end ?? p.start;
  const at = marks.filter((f) => f.index === i);
  if (at.length) return [at[0].ts, at[at.length - 1].ts, at[at.length - 1].ts];
  let a = { index: -1, ts: p.start };
  for (const f of marks) if (f.index < i) a = f;
  const b = marks.find((f) => f.index > i && f.ts >= a.ts) ?? { index: p.npages - 1, ts: end };
  if (b.index <= a.index) return [a.ts, b.ts, b.ts];
  const span = b.ts > a.ts ? b.ts - a.ts : 0n;
  return [a.ts, b.ts, a.ts + (span * BigInt(i - a.index)) / BigInt(b.index - a.index)];
}

export class DeviceExclusive {
  private gupPlans = new Map<bigint, GupPlan>();
  private announced = new Map<number, { start: number; npages: number }>();
  private active = new Set<Call>();
  private requests = new Map<number, Request>();
  private nextRequest = 1;
  private nextCall = 1;
  /** test_hmm's device page table per mm: page numbers mapped for atomic access. */
  private mirrors = new Map<Mm, Map<number, Set<number>>>();
  /** CPU faults on an entry whose folio a conversion holds locked: they wait for the unlock. */
  private waiting = new Map<Folio, Waiter[]>();
  /** Recent erasures from test_hmm's mirrors (dmirror_do_update), kept READ_RACE_NS. */
  private erased: { mirror: Set<number>; ts: bigint; s: number; e: number }[] = [];
  /**
   * Faults whose folio was unlocked: runnable, not running. A wakeup can lag the unlock by ms, and
   * the retried fault restores the entry only then: at its notifier where traced, else at its
   * do_swap_page, else at the task's next event.
   */
  private woken: Waiter[] = [];
  /** Folios a finished call left locked until the caller's folio_unlock (test_hmm unlocks after mapping). */
  private held = new Map<bigint, { folio: Folio; req: Request }>();
  /** folio_unlock is traced: a call's folios stay locked until the trace shows each unlock. */
  unlockTraced = false;
  /** Probes that show where a woken fault restores its entry. */
  notifierTraced = false;
  swapTraced = false;
  /** PFNs GUP faults mapped, by mm:va, seen before the model's GUP reached the address. */
  private rmapAhead = new Map<string, bigint>();
  /** Probes the trace lacks, and what the verdicts lose for it: noted on every request. */
  missingEvidence: string | null = null;
  /** rmap_walk is traced: page_make_device_exclusive_one is then no walk anchor of its own. */
  rmapWalkTraced = false;
  /** page_make_device_exclusive_one is traced: it, not rmap_walk, shows when a page's PTEs are read. */
  mappingTraced = false;
  /** Neither rmap_walk nor page_make_device_exclusive_one is traced: walks are interpolated. */
  walkUntraced = false;
  /** Calls past GUP whose pages are walked at interpolated times (walkUntraced). */
  private walking = new Set<Call>();

  constructor(
    readonly m: Model,
    readonly design: Design,
    readonly out: ExclusiveOutput,
    readonly gupFault: (
      task: Task,
      vma: Vma,
      va: number,
      write: boolean,
      newAnon: boolean | null,
    ) => void,
  ) {
    m.onInvalidate((mm, start, end, event, owner) => {
      // Every device's interval notifier sees the invalidation.
      for (const mirror of this.mirrors.get(mm)?.values() ?? []) {
        // dmirror_interval_invalidate ignores only its own migrations; dmirror_do_update erases the
        // range with xa_for_each_range(start >> PAGE_SHIFT, end >> PAGE_SHIFT): inclusive of `end`.
        if (event === MMU_NOTIFY.MIGRATE && owner === MIRROR_OWNER) return;
        const s = Math.floor(start / PAGE_SIZE);
        const e = Math.floor(end / PAGE_SIZE);
        const now = this.m.now;
        if (this.erased.length && now - this.erased[0].ts > READ_RACE_NS)
          this.erased = this.erased.filter((x) => now - x.ts <= READ_RACE_NS);
        this.erased.push({ mirror, ts: now, s, e });
        if (e - s < mirror.size) for (let p = s; p <= e; p++) mirror.delete(p);
        else for (const p of mirror) if (p >= s && p <= e) mirror.delete(p);
      }
    });
  }

  /**
   * test_hmm's device page table of the file a request came through (one struct dmirror per open
   * of /dev/hmm_dmirrorN): fd -1 where no ioctl event names it.
   */
  private mirrorOf(mm: Mm, fd: number): Set<number> {
    let byFd = this.mirrors.get(mm);
    if (!byFd) this.mirrors.set(mm, (byFd = new Map()));
    let mirror = byFd.get(fd);
    if (!mirror) byFd.set(fd, (mirror = new Set()));
    return mirror;
  }

  /** sys_enter_ioctl(fd, cmd, arg): a driver request begins. */
  ioctlEnter(e: ReplayEvent, t: Task): void {
    if (e.b !== HMM_DMIRROR_EXCLUSIVE || !t.mm) return;
    const mirror = this.mirrorOf(t.mm, e.a ?? -1);
    const range = this.announced.get(t.tid);
    this.announced.delete(t.tid);
    const open = this.requests.get(t.tid);
    if (open?.implicit) this.finishRequest(open, open.lastReturn ?? e.ts, null);
    this.requests.set(t.tid, {
      id: this.nextRequest++,
      ts: e.ts,
      task: t,
      mm: t.mm,
      mirror,
      start: range?.start ?? null,
      npages: range?.npages ?? null,
      calls: 0,
      failedPages: 0,
      predicted: null,
      observed: null,
      call: null,
      readMissing: null,
      readTimed: false,
      readRace: false,
      implicit: false,
      nextStart: null,
      lastReturn: null,
      announced: range !== undefined,
    });
  }

  /** Pages of the request the mirror does not map (dmirror_do_read fails on the first: -ENOENT). */
  private missing(r: Request): number {
    const mirror = r.mirror;
    const s = Math.floor((r.start ?? 0) / PAGE_SIZE);
    let n = 0;
    for (let p = s; p < s + (r.npages ?? 0); p++) if (!mirror.has(p)) n++;
    return n;
  }

  /**
   * A page the caller allocates after its last call: dmirror_exclusive's bounce buffer (vmalloc'ed
   * for large requests), allocated after mmap_read_unlock and just before dmirror_do_read. The read
   * is taken again at each such allocation, so it lands after the last one.
   */
  pageAlloc(t: Task): void {
    const r = this.requests.get(t.tid);
    if (r && !r.call && r.calls > 0 && r.predicted === null && !r.readTimed)
      r.readMissing = this.missing(r);
  }

  /**
   * vmalloc returning in the caller after its last call (a kretprobe on vmalloc):
   * dmirror_bounce_init's buffer, allocated just before mutex_lock and dmirror_do_read. The read
   * is taken here; only an invalidation racing the read itself is left unsettled.
   */
  bounceAllocated(t: Task): void {
    const r = this.requests.get(t.tid);
    if (r && !r.call && r.calls > 0 && r.predicted === null) {
      r.readMissing = this.missing(r);
      r.readTimed = true;
      // An erasure this close before the read raced it for dmirror->mutex: the probes' order
      // (a notifier's entry, vmalloc's return) does not say who took the lock first.
      const now = this.m.now;
      const s = Math.floor((r.start ?? 0) / PAGE_SIZE);
      r.readRace = this.erased.some(
        (x) =>
          now - x.ts <= READ_RACE_NS &&
          x.mirror === r.mirror &&
          x.s < s + (r.npages ?? 0) &&
          x.e >= s,
      );
    }
  }

  /**
   * RACE_BEGIN markers, written just before the ioctl, carry its range (not its result); RACE_END,
   * written after it returned, ends a request no ioctl event closes.
   */
  marker(e: ReplayEvent, t: Task): void {
    const m = /^RACE_BEGIN .*addr=0x([0-9a-f]+) npages=(\d+)/.exec(e.s ?? '');
    if (m) {
      const open = this.requests.get(t.tid);
      if (open?.implicit) this.finishRequest(open, open.lastReturn ?? e.ts, null);
      this.announced.set(t.tid, { start: parseInt(m[1], 16), npages: Number(m[2]) });
      return;
    }
    const r = this.requests.get(t.tid);
    if (r?.implicit && e.s?.startsWith('RACE_END ')) {
      if (r.call) this.finishCall(r.call, e);
      this.finishRequest(r, e.ts, null);
    }
  }

  /** sys_exit_ioctl: the final read through the mirror (dmirror_do_read), then the verdict. */
  ioctlExit(e: ReplayEvent, t: Task): void {
    const r = this.requests.get(t.tid);
    if (!r) return;
    if (r.call) this.finishCall(r.call, e);
    this.finishRequest(r, e.ts, e.a);
  }

  /** Requests no ioctl return or marker closed (end of the trace). */
  flush(): void {
    for (const r of [...this.requests.values()]) {
      if (r.call || r.calls === 0) continue;
      this.finishRequest(r, r.lastReturn ?? r.ts, null);
    }
  }

  /**
   * The request's verdict: -EBUSY where a chunk fell short, else -ENOENT where the final read
   * through the mirror (dmirror_do_read) misses a page, else 0. `end` is the ioctl's return where
   * traced, else the last call's return (or RACE_END).
   */
  private finishRequest(r: Request, end: bigint, observed: number | null): void {
    this.requests.delete(r.task.tid);
    // Unlocks the trace did not show (lost events) happened by the time the request ended.
    for (const [pfn, h] of this.held) {
      if (h.req !== r) continue;
      this.held.delete(pfn);
      this.unlock(h.folio);
    }
    r.observed = observed;
    let enoent = 0;
    const atExit = this.missing(r);
    if (r.predicted === null) {
      enoent = r.readMissing ?? atExit;
      r.predicted = enoent ? ENOENT : 0;
    }
    const ambiguous =
      !r.implicit &&
      r.predicted !== EBUSY &&
      r.readMissing !== null &&
      r.readMissing > 0 !== atExit > 0;
    this.out.request({
      requestId: r.id,
      ts: r.ts,
      dur: end - r.ts,
      tid: r.task.tid,
      mm: r.mm.id,
      start: r.start,
      npages: r.npages,
      predicted: r.predicted,
      observed: r.observed,
      calls: r.calls,
      failedPages: r.failedPages,
      enoentPages: enoent,
      note:
        [
          r.readRace && r.predicted !== EBUSY
            ? `an invalidation lands within ${Number(READ_RACE_NS) / 1000} us before the final read: dmirror->mutex decides which comes first`
            : null,
          ambiguous
            ? r.readTimed
              ? 'an invalidation falls during the final read (between the bounce buffer allocation and the ioctl return): the mirror lock decides'
              : 'an invalidation falls between the last call and the ioctl return: the read time is not traced'
            : null,
          this.missingEvidence,
        ]
          .filter(Boolean)
          .join('; ') || null,
    });
  }

  /** Entry of make_device_exclusive_range(mm, start, end, pages, owner): one 64-page chunk. */
  callEnter(e: ReplayEvent, t: Task): void {
    let r = this.requests.get(t.tid);
    if (r?.call) this.finishCall(r.call, e);
    const start = e.a!;
    // An implicit request goes on while its calls chain (dmirror_exclusive's next chunk starts
    // where the last ended, within the announced range where a marker gave one).
    if (
      r?.implicit &&
      !(start === r.nextStart && (!r.announced || start < r.start! + r.npages! * PAGE_SIZE))
    ) {
      this.finishRequest(r, r.lastReturn ?? e.ts, null);
      r = undefined;
    }
    r ??= this.implicitRequest(e, t);
    r.readMissing = null;
    r.readTimed = false;
    r.readRace = false;
    const npages = Math.round((e.b! - start) / PAGE_SIZE);
    r.start ??= start;
    if (!r.announced && start >= r.start)
      r.npages = Math.max(r.npages ?? 0, Math.round((start - r.start) / PAGE_SIZE) + npages);
    r.calls++;
    r.call = {
      id: this.nextCall++,
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
  }

  /** A caller the trace shows only through its make_device_exclusive_range calls (e.g. nouveau). */
  private implicitRequest(e: ReplayEvent, t: Task): Request {
    const range = this.announced.get(t.tid);
    this.announced.delete(t.tid);
    const r: Request = {
      id: this.nextRequest++,
      ts: e.ts,
      task: t,
      mm: t.mm!,
      mirror: this.mirrorOf(t.mm!, -1),
      start: range?.start ?? null,
      npages: range?.npages ?? null,
      calls: 0,
      failedPages: 0,
      predicted: null,
      observed: null,
      call: null,
      readMissing: null,
      readTimed: false,
      readRace: false,
      implicit: true,
      nextStart: null,
      lastReturn: null,
      announced: range !== undefined,
    };
    this.requests.set(t.tid, r);
    return r;
  }

  /** Entry of get_user_pages_remote inside a call: pinning begins (FOLL_GET|FOLL_WRITE|FOLL_SPLIT_PMD). */
  gupEnter(e: ReplayEvent, t: Task): void {
    const c = this.requests.get(t.tid)?.call;
    if (!c || c.gupStarted || this.design === '6.15') return;
    c.gupStarted = true;
    rss_batch_begin(c.req.mm);
    c.plan = this.gupPlans.get(e.id) ?? null;
    this.active.add(c);
    this.advanceTo(e);
  }

  gupReturn(e: ReplayEvent, t: Task): void {
    const c = this.requests.get(t.tid)?.call;
    if (!c || c.gupDone !== null) return;
    // GUP has returned: a fault that waited for a folio lock got it by now.
    while (!c.gupStopped && c.gup.length < c.npages)
      if (this.gupOne(c, false) !== true) c.gupStopped = true;
    c.gupCount = c.gup.length;
    c.gupDone = e.ts;
    this.active.delete(c);
    if (this.walkUntraced && c.plan?.callEnd) this.walking.add(c);
  }

  /**
   * Where no probe shows the walk, page i of n is walked at gupDone + (i + 1) / (n + 1) of the way
   * to the call's return (the walk's pace taken as even): an inference, not deciding every page
   * at the return, after racers the real walk had already passed.
   */
  private walkTime(c: Call, i: number): bigint {
    const span = c.plan!.callEnd! - c.gupDone!;
    return c.gupDone! + (span * BigInt(i + 1)) / BigInt(c.gup.length + 1);
  }

  /**
   * GUP walks the range in order; the trace shows where it is only at its start, at each fault it
   * takes (folio_add_new_anon_rmap in the caller, with the address) and at its return. Pages in
   * between are pinned at times interpolated linearly between those anchors (an inference: under
   * emulation GUP takes ~15 us a page). The replay calls this before each event.
   */
  advanceTo(e: ReplayEvent): void {
    const ts = e.ts;
    const tid = e.tid;
    if (this.woken.length && this.woken.some((w) => w.tid === tid)) this.wakeOn(e);
    for (const c of this.walking) {
      if (c.req.call !== c) {
        this.walking.delete(c);
        continue;
      }
      c.walkTiming = 'interpolated';
      while (c.next < c.gup.length && this.walkTime(c, c.next) <= ts)
        this.walkNext(c, { ts: this.walkTime(c, c.next) } as ReplayEvent, true);
      if (c.next >= c.gup.length) this.walking.delete(c);
    }
    for (const c of this.active) {
      const plan = c.plan;
      if (c.blocked && tid !== c.req.task.tid) continue;
      c.blocked = false;
      while (!c.gupStopped && c.gup.length < c.npages) {
        const when = plan ? pinTime(plan, c.gup.length) : c.ts;
        if (when > ts) break;
        const ok = this.gupOne(c, true);
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

  /** Anchors of each GUP (keyed by its entry event id), read ahead from the trace. */
  setGupPlans(plans: Map<bigint, GupPlan>): void {
    this.gupPlans = plans;
  }

  private needsFault(c: Call): boolean {
    const p = this.m.pte(c.req.mm, c.start + c.gup.length * PAGE_SIZE);
    return !p || p.kind !== 'present' || !p.write || p.pmd;
  }

  private gupOne(c: Call, wait: boolean): boolean | 'wait' {
    const ok = this.gupPin(c, wait);
    const g = c.gup[c.gup.length - 1];
    if (ok === true && g) {
      g.pinTs = this.m.now;
      if (c.plan) [g.pinLo, g.pinHi] = pinWindow(c.plan, c.gup.length - 1);
    }
    return ok;
  }

  private gupPin(c: Call, wait: boolean): boolean | 'wait' {
    const i = c.gup.length;
    const va = c.start + i * PAGE_SIZE;
    const plan = c.plan;
    if (
      plan &&
      plan.faultsTraced &&
      this.needsFault(c) &&
      !plan.faults.some((f) => f.index === i) &&
      !plan.reached.some((f) => f.index === i)
    ) {
      // The model would fault this page in, but the trace shows GUP took no fault here: GUP passed
      // it before it was zapped, and pinned the page that was mapped then.
      const last = c.req.mm.lastUnmapped.get(va);
      if (last && last.ts >= plan.start) {
        this.m.reviveFolio(last.folio);
        this.m.folio_get(last.folio);
        c.gup.push({ va, folio: last.folio, index: 0 });
        return true;
      }
    }
    // Whether the trace shows this page's fault map a new anonymous page (null: it cannot tell).
    const newAnon = plan?.faultsTraced ? plan.faults.some((f) => f.index === i) : null;
    const g = this.follow_page(c.req.task, va, newAnon, wait);
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
  private follow_page(
    task: Task,
    va: number,
    newAnon: boolean | null = null,
    wait = false,
  ): GupPage | null | 'wait' {
    const m = this.m;
    const mm = task.mm!;
    const vma = m.find_vma(mm, va);
    // check_vma_flags: FOLL_WRITE needs VM_WRITE.
    if (!vma || !vma.write) return null;
    let pte = m.pte(mm, va);
    if (pte?.kind === 'device_exclusive' && pte.folio?.locked) {
      // Another call's entry, its folio still locked: do_swap_page sleeps in folio_lock_or_retry
      // and restores the entry once the lock is released.
      if (wait) return 'wait';
      this.remove_device_exclusive_entry(mm, vma, va, pte);
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
      this.gupFault(task, vma, va, true, newAnon);
      rss_batch_point(mm);
      pte = m.pte(mm, va);
      if (!pte || pte.kind !== 'present' || !pte.write) return null;
    }
    m.folio_get(pte.folio!);
    return { va, folio: pte.folio, index: pte.index };
  }

  /** get_user_pages_remote of a whole range at once (6.15's single-page calls). */
  get_user_pages_remote(task: Task, start: number, npages: number): GupPage[] {
    const out: GupPage[] = [];
    rss_batch_begin(task.mm!);
    for (let i = 0; i < npages; i++) {
      const g = this.follow_page(task, start + i * PAGE_SIZE);
      if (!g || g === 'wait') break;
      out.push(g);
    }
    return out;
  }

  /**
   * A CPU fault (`cpu`) or GUP fault on a non-present entry. Returns true if it was device-exclusive.
   * A CPU fault restores the entry when its notifier (or do_swap_page) shows, a few us after the
   * exception: a read through the mirror can fall in between.
   */
  swapFault(mm: Mm, vma: Vma, va: number, pte: Pte, write: boolean, cpu = false): boolean {
    if (pte.kind !== 'device_exclusive') return false;
    const f = pte.folio!;
    const w = { tid: this.m.tid, mm, va, write, folio: f };
    if (f.locked) {
      // folio_lock_or_retry: the fault waits for the converting caller to unlock the folio.
      const q = this.waiting.get(f) ?? [];
      q.push(w);
      this.waiting.set(f, q);
      return true;
    }
    if (cpu && (this.notifierTraced || this.swapTraced)) {
      this.woken.push(w);
      return true;
    }
    this.remove_device_exclusive_entry(mm, vma, va, pte);
    if (write && !this.m.pte(mm, va)!.write)
      do_wp_page(this.m, mm, vma, va, this.m.pte(mm, va)!, null);
    return true;
  }

  /**
   * remove_device_exclusive_entry + restore_exclusive_pte: notifier (EXCLUSIVE on <=6.14, CLEAR on
   * 6.15+, owner NULL), then a present PTE again; <=6.14 re-adds the rmap the conversion removed.
   */
  remove_device_exclusive_entry(mm: Mm, vma: Vma, va: number, pte: Pte): void {
    const m = this.m;
    const f = pte.folio!;
    m.mmu_notifier_invalidate(
      mm,
      va,
      va + PAGE_SIZE,
      this.design === '6.15' ? MMU_NOTIFY.CLEAR : MMU_NOTIFY.EXCLUSIVE,
      null,
    );
    if (this.design !== '6.15') m.rmap_add(f, mm, va);
    const write = pte.entryWrite && vma.write;
    m.set_pte_at(
      mm,
      va,
      presentPte(f, {
        write,
        dirty: write,
        accessed: false,
        softDirty: pte.softDirty,
        uffdWp: pte.uffdWp,
        confidence: pte.confidence,
      }),
    );
  }

  /** try_restore_exclusive_pte at fork: restore in the parent, or fail the fork if the folio is locked. */
  restoreForFork(mm: Mm, va: number, pte: Pte): boolean {
    const f = pte.folio!;
    // v8 waited for the lock (sleeping lock_page); 5.14+ trylocks and fails the fork (-ENOMEM).
    if (f.locked && this.design !== 'v8') return false;
    const vma = this.m.find_vma(mm, va);
    if (!vma) return true;
    this.remove_device_exclusive_entry(mm, vma, va, pte);
    return true;
  }

  /** rmap_walk inside a call (5.14 design): the next page the walk reaches is walked now. */
  rmapWalk(e: ReplayEvent, t: Task): void {
    const c = this.requests.get(t.tid)?.call;
    if (!c) return;
    c.walkTiming = 'rmap_walk';
    // The folio is trylocked before rmap_walk; its PTEs are read when the walk reaches them (the
    // anon_vma lock can keep it waiting for ms), which page_make_device_exclusive_one shows.
    this.walkNext(c, e, true, this.mappingTraced);
  }

  /**
   * page_make_device_exclusive_one(folio, vma, address, args): the walk reads the folio's PTEs now.
   * Where rmap_walk is traced, this settles the page it began; else the walk has reached the page at
   * `address`, so it and every page before it are walked by now.
   */
  walkReached(e: ReplayEvent, t: Task): void {
    const c = this.requests.get(t.tid)?.call;
    if (!c) return;
    if (this.rmapWalkTraced) {
      const g = c.pending === null ? null : c.gup[c.pending];
      if (g && e.a !== null && g.folio?.pfn === BigInt(e.a)) this.settle(c, e.ts);
      return;
    }
    if (e.b === null) return;
    const idx = Math.floor((e.b - c.start) / PAGE_SIZE);
    if (idx < c.next || idx >= c.npages) return;
    c.walkTiming = 'rmap_walk';
    while (c.next <= idx && c.next < c.gup.length) this.walkNext(c, e, true);
  }

  /**
   * Decides pages in order up to and including the next one whose walk reaches rmap_walk; with
   * `one` false, decides every remaining page.
   */
  private walkNext(c: Call, e: ReplayEvent, one: boolean, hold = false): void {
    if (this.design === '6.15') {
      this.make_device_exclusive_pages(c, e, one);
      return;
    }
    this.settle(c, e.ts);
    while (c.next < c.gup.length) {
      const i = c.next++;
      const g = c.gup[i];
      const pre = this.beforeWalk(g);
      if (pre) {
        this.result(c, i, g, 'failed', pre, e.ts);
        continue;
      }
      if (hold) {
        // folio_trylock succeeded: held until its PTEs are read.
        g.folio!.locked = true;
        c.pending = i;
        return;
      }
      this.walkPage(c, i, g, e.ts);
      if (one) return;
    }
  }

  /** The page whose walk began (rmap_walk) is decided now: the trace shows it read its PTEs, or moved on. */
  private settle(c: Call, ts: bigint): void {
    if (c.pending === null) return;
    const i = c.pending;
    c.pending = null;
    this.walkPage(c, i, c.gup[i], ts);
  }

  /** Failures decided before any rmap walk: tail page, folio lock held, not anonymous. */
  private beforeWalk(g: GupPage): Cause | null {
    const f = g.folio!;
    // 6.1+: PageTail fails at once; v8's trylock_page on a tail locks the head, held by then.
    if (f.order > 0 && g.index > 0) return this.design === 'v8' ? 'trylock_failed' : 'tail_page';
    if (f.locked || this.migrationLocked(f)) return 'trylock_failed';
    if (!f.anon) return 'not_anon';
    return null;
  }

  /**
   * migrate_pages_batch locks each folio (migrate_folio_unmap) before try_to_migrate shows it:
   * from the batch's mm_migrate_pages_start on, a folio that try_to_migrate names later is held.
   */
  private migrationLocked(f: Folio): boolean {
    if (f.pfn === null) return false;
    const now = this.m.now;
    return (this.migrationLocks.get(f.pfn) ?? []).some(([from, to]) => from <= now && now < to);
  }

  /** Per PFN, the windows [batch start, try_to_migrate) in which a migration held its folio (read ahead). */
  migrationLocks = new Map<bigint, [bigint, bigint][]>();

  /**
   * folio_make_device_exclusive (6.12): an rmap walk converts every present mapping of the folio,
   * in every mm, into a device-exclusive entry (writable by the old write bit); the page succeeds
   * only if the expected (mm, address) was among them, writable, and no mapping remains.
   */
  private walkPage(c: Call, i: number, g: GupPage, ts: bigint): void {
    const m = this.m;
    const f = g.folio!;
    f.locked = true;
    m.touchFolio(f);
    const mm = c.req.mm;
    let valid = false;
    const expected = m.pte(mm, g.va);
    for (const { mm: mmId, va } of [...f.rmap.values()]) {
      const owner = m.mms[mmId];
      const p = m.pte(owner, va);
      if (!p || p.kind !== 'present' || p.folio !== f) continue;
      const vma = m.find_vma(owner, va);
      // page_make_device_exclusive_one: notifier EXCLUSIVE (owner: test_hmm passes NULL).
      m.mmu_notifier_invalidate(
        owner,
        va,
        Math.min(vma?.end ?? va + PAGE_SIZE, va + PAGE_SIZE),
        MMU_NOTIFY.EXCLUSIVE,
        null,
      );
      if (owner === mm && va === g.va && p.write) valid = true;
      m.rmap_remove(f, owner, va);
      m.set_pte_at(owner, va, {
        ...p,
        kind: 'device_exclusive',
        entryWrite: p.write,
        write: false,
      });
    }
    if (valid && f.mapcount === 0) {
      this.result(c, i, g, 'exclusive', 'exclusive', ts);
      return;
    }
    // Failed: unlock and put; entries converted on the way stay converted.
    f.locked = false;
    m.folio_put(f);
    g.folio = f;
    let cause: Cause;
    if (
      expected?.folio !== f ||
      (expected.kind !== 'present' && expected.kind !== 'device_exclusive')
    )
      cause = 'replaced';
    else if (!expected.write) cause = 'write_protected';
    else cause = 'mapped_elsewhere';
    this.result(c, i, g, 'failed', cause, ts, expected);
    this.releaseWaiters(f);
  }

  /** make_device_exclusive (6.15+): per page, GUP then convert under the folio lock, retrying until consistent. */
  private make_device_exclusive_pages(c: Call, e: ReplayEvent, one: boolean): void {
    const m = this.m;
    const task = c.req.task;
    const mm = c.req.mm;
    while (c.next < c.npages) {
      const i = c.next++;
      const va = c.start + i * PAGE_SIZE;
      const gup = this.get_user_pages_remote(task, va, 1);
      if (!gup.length) {
        this.result(c, i, { va, folio: null, index: 0 }, 'failed', 'gup_short', e.ts);
        c.next = c.npages;
        return;
      }
      const g = gup[0];
      const f = g.folio!;
      if (!f.anon) {
        m.folio_put(f);
        this.result(c, i, g, 'failed', 'not_anon', e.ts);
        c.next = c.npages;
        return;
      }
      // folio_lock_killable waits; folio_walk_start rechecks the PTE under its lock and retries
      // (GUP again) until it maps this page writably, so nothing can slip in between.
      const p = m.pte(mm, va)!;
      m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.EXCLUSIVE, null);
      m.set_pte_at(mm, va, { ...p, kind: 'device_exclusive', entryWrite: true, write: false });
      f.locked = true;
      this.result(c, i, g, 'exclusive', 'exclusive', e.ts);
      c.gupCount++;
      if (one) return;
    }
  }

  private result(
    c: Call,
    i: number,
    g: GupPage,
    outcome: 'exclusive' | 'failed',
    cause: Cause,
    ts: bigint,
    expected?: Pte,
  ): void {
    let culprit: { eventId: bigint; ts: bigint; tid: number } | null = null;
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

  /** Return of make_device_exclusive_range: remaining pages, the wrapper's mirror map and -EBUSY rule. */
  callReturn(e: ReplayEvent, t: Task): void {
    const c = this.requests.get(t.tid)?.call;
    if (!c) return;
    // Observed only: ret and the page array (NULL slot = failed page).
    const slots = (e.s ?? '').replace(/[{}]/g, '').split(',').filter(Boolean);
    this.finishCall(c, e, e.a, slots);
  }

  private finishCall(
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
      this.gupReturn(e, r.task);
      r.call = null;
    }
    this.walkNext(c, e, false);
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
    const ret =
      this.design === '6.15' ? (ok.length === c.npages ? c.npages : ok.length) : c.gupCount;
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
      this.unlockLater(g.folio, r);
    }
    if (this.design === '6.15') {
      for (const p of ok) {
        const f = this.m.pte(r.mm, p!.address)?.folio;
        if (f) this.unlockLater(f, r);
      }
      if (mapped < c.npages && r.predicted === null)
        r.predicted = c.results.find((p) => p!.cause === 'gup_short')
          ? EFAULT
          : c.results.find((p) => p!.cause === 'not_anon')
            ? EOPNOTSUPP
            : EBUSY;
    } else if (mapped < c.npages && r.predicted === null) r.predicted = EBUSY;
    if (r.predicted === null) r.readMissing = this.missing(r);
    slots.forEach((s, i) => {
      if (i < c.npages && (observedRet === null || i < observedRet) && c.results[i])
        c.results[i]!.observed = /^0x0+$|^0$/.test(s) ? 'failed' : 'exclusive';
    });
    if (observedRet !== null && observedRet < c.npages) {
      for (let i = Math.max(observedRet, 0); i < c.npages; i++)
        if (c.results[i]) c.results[i]!.observed = 'failed';
    }
    for (const p of c.results) this.out.page(p!);
    this.out.call({
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
      observedFailed: slots.length
        ? c.results.filter((p) => p!.observed === 'failed').length
        : null,
      walkTiming: c.walkTiming,
    });
  }

  /** Faults that waited on a folio lock become runnable once it is released. */
  private releaseWaiters(f: Folio): void {
    const q = this.waiting.get(f);
    if (!q) return;
    this.waiting.delete(f);
    this.woken.push(...q);
  }

  /**
   * An event of a task with woken faults: the fault whose retry this event shows restores its
   * entry, unless something replaced it meanwhile; a fault-path event for another address means
   * the retry found nothing left to restore.
   */
  private wakeOn(e: ReplayEvent): void {
    const mine = (w: Waiter) => w.tid === e.tid;
    const notifier = e.event === 'kprobe:mmu_notifier_invalidate_range_start';
    const swap = e.event === 'kprobe:do_swap_page';
    const covers = (w: Waiter) =>
      notifier ? e.a !== null && e.b !== null && e.a <= w.va && w.va < e.b : e.a === w.va;
    const shows = this.notifierTraced ? notifier : this.swapTraced ? swap : true;
    if (!shows) return;
    const keep: Waiter[] = [];
    for (const w of this.woken) {
      if (!mine(w)) keep.push(w);
      else if (this.notifierTraced || this.swapTraced ? covers(w) : true) {
        const p = this.m.pte(w.mm, w.va);
        const vma = this.m.find_vma(w.mm, w.va);
        if (p?.kind === 'device_exclusive' && p.folio === w.folio && vma)
          this.swapFault(w.mm, vma, w.va, p, w.write);
      }
    }
    this.woken = keep;
  }

  /** folio_unlock(folio) in a caller that made it exclusive: its faults may now restore the entry. */
  folioUnlock(pfn: bigint): void {
    const h = this.held.get(pfn);
    if (!h) return;
    this.held.delete(pfn);
    this.unlock(h.folio);
  }

  private unlock(f: Folio): void {
    f.locked = false;
    this.m.folio_put(f);
    this.releaseWaiters(f);
  }

  /** After a call: unlock its folios now, or hold them for the folio_unlock events the trace has. */
  private unlockLater(f: Folio, r: Request): void {
    if (this.unlockTraced && f.pfn !== null) this.held.set(f.pfn, { folio: f, req: r });
    else this.unlock(f);
  }

  /** folio_add_new_anon_rmap(folio, vma, address): the PFN of a page a (GUP) fault just mapped. */
  newAnonRmap(e: ReplayEvent, t: Task): void {
    const mm = t.mm;
    if (!mm || e.a === null || e.b === null) return;
    const va = e.b - (e.b % PAGE_SIZE);
    const p = this.m.pte(mm, va);
    if (p?.kind === 'present' && p.folio && !p.folio.zero) {
      if (p.folio.pfnConfidence !== 'observed') this.m.setPfn(p.folio, BigInt(e.a), 'observed');
    } else this.rmapAhead.set(`${mm.id}:${va}`, BigInt(e.a));
  }

  /** The PFN a GUP fault mapped, when its rmap kprobe fired before the model's GUP reached va. */
  takeRmapAhead(mm: Mm, va: number): bigint | undefined {
    const key = `${mm.id}:${va}`;
    const pfn = this.rmapAhead.get(key);
    this.rmapAhead.delete(key);
    return pfn;
  }
}
