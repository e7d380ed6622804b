// The device-exclusive model's rows, causes and the state it keeps per request, call and page.
import type { GupPlan } from './gup_plan.js';
import type { Folio, Mm, Task } from '../types.js';

export type Design = 'v8' | '5.14' | '6.15';
export const DESIGNS: Design[] = ['v8', '5.14', '6.15'];

/** lib/test_hmm_uapi.h: HMM_DMIRROR_EXCLUSIVE = _IOWR('H', 0x05, struct hmm_dmirror_cmd) (40 bytes). */
export const HMM_DMIRROR_EXCLUSIVE = 0xc0284805;
export const MIRROR_OWNER = 'test_hmm';
export const ENOENT = -2;
export const EBUSY = -16;
/** How close before test_hmm's final read an invalidation still races it for dmirror->mutex. */
export const READ_RACE_NS = 10_000n;
/** Where the final read is not traced, how long after the caller's mmap_read_unlock (or last bounce
 *  page) it is taken: vmalloc of the bounce buffer, then dmirror->mutex. The median measured where
 *  vmalloc is traced (6.12-r2 race-two_req, probe set A: 187 us; p10 35 us, p90 419 us). */
export const READ_DELAY_NS = 190_000n;
export const EFAULT = -14;
export const EOPNOTSUPP = -95;

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
  gupPfn: number | null;
  outcome: 'exclusive' | 'failed';
  cause: Cause;
  culpritEvent: number | null;
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
  walkTiming: 'rmap_walk' | 'tlb_flush' | 'interpolated' | 'call_return';
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

export interface GupPage {
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
export interface Waiter {
  tid: number;
  mm: Mm;
  va: number;
  write: boolean;
  folio: Folio;
}

export interface Call {
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

export interface Request {
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
   *  buffer's page allocations where the trace shows them (see readNotBefore). */
  readMissing: number | null;
  /** The read's time is traced (bounceAllocated), not inferred. */
  readTimed: boolean;
  /** Without it traced, when the read is taken: READ_DELAY_NS after the caller's last event
   *  that precedes it, or at its first page free (vfree of the bounce buffer), if sooner. */
  readAt: bigint | null;
  /** Missing mirror pages at the last call's return, the earliest the read can come: where the
   *  read is not traced and this differs from the count at the ioctl's return, an invalidation
   *  fell where the read may have been, so the trace cannot settle the verdict exactly. */
  readEarliest: number | null;
  /** An invalidation erased some of its pages within READ_RACE_NS before the final read. */
  readRace: boolean;
  /** No ioctl event opens it (a trace without syscall tracepoints, or a caller other than
   *  test_hmm): its calls, chained chunk after chunk, are the request. */
  implicit: boolean;
  /** Where the next chunk of an implicit request would start, and when its last call returned. */
  nextStart: number | null;
  lastReturn: bigint | null;
  /** The range came with the request (RACE_BEGIN); else it is the span of its calls so far. */
  announced: boolean;
}
