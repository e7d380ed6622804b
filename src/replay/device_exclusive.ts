// Device-exclusive entries: make_device_exclusive_range (v8, and 5.14-6.14 as in mm/rmap.c of
// 6.12), make_device_exclusive (6.15+), lib/test_hmm.c's HMM_DMIRROR_EXCLUSIVE wrapper with its
// device mirror, and the CPU-side paths that meet an entry (fault, fork, zap, mprotect).
//
// Verdicts come from the model's own state at the moment each page is walked. Outcome-revealing
// events (the kretprobe's return value and page array, sys_exit_ioctl's value, the race program's
// result markers) are read only into the `observed_*` columns that score the model.
//
// This class holds the state and dispatches; each concern is a file under exclusive/, named after
// the kernel function it models: test_hmm.ts, gup.ts, make_device_exclusive_range.ts,
// folio_make_device_exclusive.ts, make_device_exclusive.ts (6.15), restore.ts.
import type { ReplayEvent } from './adapter.js';
import type { Model } from './model.js';
import type { Folio, Mm, Pte, Task, Vma } from './types.js';
import {
  advanceTo,
  gupEnter,
  gupReturn,
  newAnonRmap,
  setGupPlans,
  takeRmapAhead,
} from './exclusive/gup.js';
import type { GupPlan } from './exclusive/gup_plan.js';
import {
  callEnter,
  callReturn,
  rmapWalk,
  walkFlushed,
  walkReached,
} from './exclusive/make_device_exclusive_range.js';
import { folioUnlock, restoreForFork, swapFault } from './exclusive/restore.js';
import {
  bounceAllocated,
  dmirror_interval_invalidate,
  flush,
  ioctlEnter,
  ioctlExit,
  marker,
  readDue,
  readNotBefore,
} from './exclusive/test_hmm.js';
import type { Call, Design, ExclusiveOutput, Request, Waiter } from './exclusive/types.js';

export { DESIGNS, HMM_DMIRROR_EXCLUSIVE } from './exclusive/types.js';
export type {
  CallRow,
  Cause,
  Design,
  ExclusiveOutput,
  PageRow,
  RequestRow,
} from './exclusive/types.js';
export { pinTime, pinWindow, type GupPlan } from './exclusive/gup_plan.js';

export class DeviceExclusive {
  gupPlans = new Map<number, GupPlan>();
  announced = new Map<number, { start: number; npages: number }>();
  active = new Set<Call>();
  requests = new Map<number, Request>();
  nextRequest = 1;
  nextCall = 1;
  /** test_hmm's device page table per mm: page numbers mapped for atomic access. */
  mirrors = new Map<Mm, Map<number, Set<number>>>();
  /** CPU faults on an entry whose folio a conversion holds locked: they wait for the unlock. */
  waiting = new Map<Folio, Waiter[]>();
  /** Recent erasures from test_hmm's mirrors (dmirror_do_update), kept READ_RACE_NS. */
  erased: { mirror: Set<number>; ts: bigint; s: number; e: number }[] = [];
  /**
   * Faults whose folio was unlocked: runnable, not running. A wakeup can lag the unlock by ms, and
   * the retried fault restores the entry only then: at its notifier where traced, else at its
   * do_swap_page, else at the task's next event.
   */
  woken: Waiter[] = [];
  /** Folios a finished call left locked until the caller's folio_unlock (test_hmm unlocks after mapping). */
  held = new Map<number, { folio: Folio; req: Request }>();
  /** folio_unlock is traced: a call's folios stay locked until the trace shows each unlock. */
  unlockTraced = false;
  /** Probes that show where a woken fault restores its entry. */
  notifierTraced = false;
  swapTraced = false;
  /** PFNs GUP faults mapped, by mm:va, seen before the model's GUP reached the address. */
  rmapAhead = new Map<string, number>();
  /** Probes the trace lacks, and what the verdicts lose for it: noted on every request. */
  missingEvidence: string | null = null;
  /** get_user_pages_remote is traced; where not, GUP pins a call's range at its entry. */
  gupTraced = true;
  /** rmap_walk is traced: page_make_device_exclusive_one is then no walk anchor of its own. */
  rmapWalkTraced = false;
  /** page_make_device_exclusive_one is traced: it, not rmap_walk, shows when a page's PTEs are read. */
  mappingTraced = false;
  /** Neither rmap_walk nor page_make_device_exclusive_one is traced: walks are interpolated. */
  walkUntraced = false;
  /** walkUntraced, and the callers' local TLB flushes are traced: they show the walk (walkFlushed). */
  walkClock = false;
  /** A call's walk has shown a flush: from then on, calls wait for theirs instead of interpolating. */
  flushesSeen = false;
  /** Calls past GUP whose pages are walked at interpolated times (walkUntraced). */
  walking = new Set<Call>();

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
    m.onInvalidate((mm, start, end, event, owner) =>
      dmirror_interval_invalidate(this, mm, start, end, event, owner),
    );
  }

  /** Requests whose final read is estimated, not traced, and not yet taken (Request.readAt). */
  reading = new Set<Request>();

  /** Per PFN, the windows [batch start, try_to_migrate) in which a migration held its folio (read ahead). */
  migrationLocks = new Map<number, [bigint, bigint][]>();

  /** sys_enter_ioctl(fd, cmd, arg): a driver request begins. */
  ioctlEnter(e: ReplayEvent, t: Task): void {
    ioctlEnter(this, e, t);
  }

  /** sys_exit_ioctl: the final read, then the verdict. */
  ioctlExit(e: ReplayEvent, t: Task): void {
    ioctlExit(this, e, t);
  }

  /** The race program's RACE_BEGIN/RACE_END markers. */
  marker(e: ReplayEvent, t: Task): void {
    marker(this, e, t);
  }

  /** An event of the caller its final read must follow (mmap_read_unlock, the bounce buffer's pages). */
  readNotBefore(t: Task): void {
    readNotBefore(this, t);
  }

  /** vmalloc returning in the caller after its last call: the final read. */
  bounceAllocated(t: Task): void {
    bounceAllocated(this, t);
  }

  /** Requests no ioctl return or marker closed (end of the trace). */
  flush(): void {
    flush(this);
  }

  /** Entry of make_device_exclusive_range. */
  callEnter(e: ReplayEvent, t: Task): void {
    callEnter(this, e, t);
  }

  /** Return of make_device_exclusive_range. */
  callReturn(e: ReplayEvent, t: Task): void {
    callReturn(this, e, t);
  }

  /** rmap_walk inside a call: the next page's walk begins. */
  rmapWalk(e: ReplayEvent, t: Task): void {
    rmapWalk(this, e, t);
  }

  /** page_make_device_exclusive_one: the walk reads a folio's PTEs. */
  walkReached(e: ReplayEvent, t: Task): void {
    walkReached(this, e, t);
  }

  /** A TLB flush in the caller: where no probe shows the walk, a page it made exclusive. */
  walkFlushed(e: ReplayEvent, t: Task): void {
    walkFlushed(this, e, t);
  }

  /** Entry of get_user_pages_remote inside a call. */
  gupEnter(e: ReplayEvent, t: Task): void {
    gupEnter(this, e, t);
  }

  /** Return of get_user_pages_remote. */
  gupReturn(e: ReplayEvent, t: Task): void {
    gupReturn(this, e, t);
  }

  /** Before each event: GUP, interpolated walks, woken faults and estimated reads catch up. */
  advanceTo(e: ReplayEvent): void {
    for (const r of this.reading) if (r.readAt === null || r.readAt <= e.ts) readDue(this, r);
    advanceTo(this, e);
  }

  /** A page freed by the caller after its last call: vfree of the bounce buffer, past the read. */
  pageFree(t: Task): void {
    const r = this.requests.get(t.tid);
    if (r && this.reading.has(r)) readDue(this, r);
  }

  /** The plans of the GUPs that begin in the current batch of events. */
  setGupPlans(plans: Map<number, GupPlan>): void {
    setGupPlans(this, plans);
  }

  /** folio_add_new_anon_rmap seen ahead of the model's GUP. */
  newAnonRmap(e: ReplayEvent, t: Task): void {
    newAnonRmap(this, e, t);
  }

  /** The PFN a GUP fault mapped at mm:va, seen ahead. */
  takeRmapAhead(mm: Mm, va: number): number | undefined {
    return takeRmapAhead(this, mm, va);
  }

  /** A fault on a non-present entry: true if it was device-exclusive. */
  swapFault(mm: Mm, vma: Vma, va: number, pte: Pte, write: boolean, cpu = false): boolean {
    return swapFault(this, mm, vma, va, pte, write, cpu);
  }

  /** try_restore_exclusive_pte at fork. */
  restoreForFork(mm: Mm, va: number, pte: Pte): boolean {
    return restoreForFork(this, mm, va, pte);
  }

  /** folio_unlock in a caller that made the folio exclusive. */
  folioUnlock(pfn: number): void {
    folioUnlock(this, pfn);
  }
}
