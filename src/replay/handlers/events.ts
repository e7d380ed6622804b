// What the handlers share: the event as the replay reads it, the rows they write, and the event
// sets and kernel constants that decide how events group (inside a fault, a bulk operation...).
import type { FaultEvidence } from '../memory.js';
import type { RSS_MEMBERS, Task } from '../types.js';
import type { ReplayEvent } from '../event_view.js';

export type { ReplayEvent } from '../event_view.js';

export interface RssRow {
  eventId: number;
  ts: bigint;
  mm: number | null;
  member: (typeof RSS_MEMBERS)[number];
  kernel: number;
  model: number | null;
  match: boolean | null;
  note: string | null;
}

export interface CheckpointRow {
  eventId: number;
  ts: bigint;
  label: string;
  pid: number;
  mm: number | null;
  va: number;
  kernelState: string;
  kernelPfn: number | null;
  kernelFlags: string;
  modelState: string;
  modelPfn: number | null;
  confidence: string | null;
  presentMatch: boolean;
  pfnMatch: boolean | null;
}

/** One fault's page-table page allocations, kernel against model. */
export interface PgtableRow {
  eventId: number;
  mm: number;
  va: number;
  kernel: number;
  model: number;
  match: boolean | null;
  note: string | null;
}

export interface AdapterOutput {
  /** A task's row (tasks table): at the end of the trace, or when a new task takes its pid. */
  task(t: Task): void;
  rss(r: RssRow): void;
  pgtable(r: PgtableRow): void;
  checkpoint(r: CheckpointRow): void;
}

export interface PendingFault {
  task: Task;
  va: number;
  errorCode: number;
  eventId: number;
  ev: FaultEvidence;
  /** The fault freed the page it allocated: it lost a race (pte_same failed), someone else mapped
   *  the address first, and the fault maps nothing. */
  backedOut: boolean;
  /** The fault holds its mmap_lock (read) or VMA lock: the trace showed it taken, or do_wp_page run. */
  holdsLock: boolean;
}

/**
 * The faults under way, at most one per task: a few at a time (one per CPU), kept in an array
 * searched by tid, which a fault's start and end leave without allocating (a Map's table is
 * reallocated as it fills and empties, twice per fault).
 */
export class PendingFaults {
  private list: PendingFault[] = [];

  get(tid: number): PendingFault | undefined {
    const l = this.list;
    for (let i = 0; i < l.length; i++) if (l[i].task.tid === tid) return l[i];
    return undefined;
  }

  /** Starts pf, in place of its task's pending fault if any. */
  set(pf: PendingFault): void {
    const l = this.list;
    for (let i = 0; i < l.length; i++)
      if (l[i].task.tid === pf.task.tid) {
        l[i] = pf;
        return;
      }
    l.push(pf);
  }

  delete(pf: PendingFault): void {
    const i = this.list.indexOf(pf);
    if (i < 0) return;
    this.list[i] = this.list[this.list.length - 1];
    this.list.pop();
  }

  /** The pending faults at this moment (a copy: ending them as they are visited is safe). */
  values(): PendingFault[] {
    return this.list.slice();
  }
}

export interface Syscall {
  name: string;
  e: ReplayEvent;
}

export const CLONE_VM = 0x100;
export const CLONE_THREAD = 0x10000;
export const CLONE_VFORK = 0x4000;
export const SIGCHLD = 17;

/**
 * Events that occur inside a fault without ending it: the do_wp_page kprobe fires in the fault it
 * is part of; sched_process_free is an RCU callback (softirq) that can interrupt one.
 */
export const WITHIN_FAULT = new Set([
  'mmap_lock:mmap_lock_acquire_returned',
  // Read only for test_hmm's final read (readNotBefore): it ends nothing.
  'mmap_lock:mmap_lock_released',
  'kmem:mm_page_alloc',
  'pagemap:mm_lru_insertion',
  'tlb:tlb_flush',
  'kmem:mm_page_free',
  'kmem:mm_page_free_batched',
  'kprobe:do_wp_page',
  'kprobe:folio_unlock',
  'sched:sched_process_free',
]);
/** include/linux/mm_types.h enum fault_flag (the same bits in 6.1 and 6.12). */
export const FAULT_FLAG_USER = 0x40;
export const FAULT_FLAG_REMOTE = 0x80;
/** arch/x86/include/asm/trap_pf.h: the page fault error code's bits. */
export const X86_PF_PROT = 1;
export const X86_PF_WRITE = 2;
/**
 * The first of these in a task after munmap/madvise/mprotect's entry marks when the page-table work
 * began: a notifier or unmap kprobe where traced, else the rss_stat, frees or exit that follow it.
 * (The entry event itself precedes the mmap_lock wait, which can be long under contention.)
 */
export const STARTS_SYSCALL_WORK = new Set([
  'mmap_lock:mmap_lock_acquire_returned',
  'kprobe:copy_page_range',
  'task:task_newtask',
  'kprobe:mmu_notifier_invalidate_range_start',
  'kprobe:unmap_page_range',
  'kmem:rss_stat',
  'kmem:mm_page_free',
  'kmem:mm_page_free_batched',
  'exceptions:page_fault_user',
  'ftrace:print',
]);

/** include/linux/mm.h change_protection's cp_flags. */
export const MM_CP_UFFD_WP = 1 << 2;
export const MM_CP_UFFD_WP_RESOLVE = 1 << 3;

export const PGTABLE_GFP =
  /^GFP_KERNEL_ACCOUNT\|(?:__GFP_ZERO(?:\|__GFP_COMP)?|__GFP_COMP\|__GFP_ZERO)$/;

/** Comms of the kernel's own threads, which a trace shows acting on user memory (no task creates them in a trace). */
export const KERNEL_THREAD =
  /^(?:kworker\/|ksoftirqd\/|migration\/|cpuhp\/|rcu_|kthreadd$|ksmd$|khugepaged$|kswapd\d*$|kcompactd\d*$|oom_reaper$|kauditd$|swapper)/;

/** TASK_SIZE with 5-level paging (arch/x86/include/asm/page_64_types.h): above it is the kernel's. */
export const USER_VA_END = 2 ** 56;
/** Syscalls whose (addr, len) the model maps, unmaps or changes page by page. */
export const RANGE_SYSCALLS = new Set(['mmap', 'munmap', 'mprotect', 'madvise', 'mremap']);

/** Events that occur inside a bulk page-table operation (fork copy, zap, exit) without ending it. */
export const WITHIN_BULK = new Set([...WITHIN_FAULT, 'kmem:rss_stat']);

/** Bits of eventClass: in WITHIN_FAULT, in WITHIN_BULK, a kprobe or kretprobe, in STARTS_SYSCALL_WORK. */
export const IN_FAULT = 1;
export const IN_BULK = 2;
export const PROBE = 4;
export const STARTS_WORK = 8;

/** What the adapter asks of every event's name before its handler: found once per name, kept in
 *  the event view's layout of it (ReplayEvent.eventClass). */
export function eventClass(event: string): number {
  return (
    (WITHIN_FAULT.has(event) ? IN_FAULT : 0) |
    (WITHIN_BULK.has(event) ? IN_BULK : 0) |
    (event.startsWith('kprobe:') || event.startsWith('kretprobe:') ? PROBE : 0) |
    (STARTS_SYSCALL_WORK.has(event) ? STARTS_WORK : 0)
  );
}
