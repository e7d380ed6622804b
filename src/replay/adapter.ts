// From trace events to model operations. Where a trace does not say something, the rule used is
// written next to the code, and what it produced is marked `inferred` (or `unknown`).
import { zap_pte_range } from './memory.js';
import { DeviceExclusive, type Design, type ExclusiveOutput } from './device_exclusive.js';
import { Model } from './model.js';
import { uffd_wp_range } from './userfaultfd.js';
import type { Folio, Mm, Task, Vma } from './types.js';

import {
  ReplayEvent,
  AdapterOutput,
  PendingFaults,
  Syscall,
  IN_BULK,
  IN_FAULT,
  PROBE,
  STARTS_WORK,
  MM_CP_UFFD_WP,
  MM_CP_UFFD_WP_RESOLVE,
  KERNEL_THREAD,
  USER_VA_END,
} from './handlers/events.js';
import {
  collapseHugePage,
  finishFault,
  finishLockHolders,
  gupFault,
  kernelWpFault,
} from './handlers/faults.js';
import { check_sync_rss_stat, rssStat } from './handlers/rss.js';
import { copyPageRange, exec, exit, forkWithoutNewTask, newTask } from './handlers/fork.js';
import { invalidateRangeStart, sysEnter, sysExit } from './handlers/syscalls.js';
import {
  folioLocked,
  folioUnlock,
  ksm_merge_with_ksm_page,
  migrationPte,
} from './handlers/migration.js';
import { checkpoint } from './handlers/checkpoint.js';
import { PageCache } from './filemap.js';
import { mm_lru_insertion, mm_page_alloc, mm_page_free } from './handlers/kmem.js';
export type {
  AdapterOutput,
  CheckpointRow,
  PgtableRow,
  ReplayEvent,
  RssRow,
} from './handlers/events.js';

export interface AdapterOptions {
  thp: 'always' | 'madvise' | 'never';
  /** True when the trace carries kmem:mm_page_alloc (fault allocations are then observed). */
  allocsTraced: boolean;
  /** Device-exclusive design to replay (null: leave the device-exclusive paths out). */
  design: Design | null;
  /** True when the trace carries exceptions:page_fault_kernel (kernel-mode faults on user memory). */
  kernelFaultsTraced?: boolean;
  /** The trace has syscall events (else zaps and write-protections show only through kprobes). */
  syscallsTraced?: boolean;
  /** A kprobe on uffd_wp_range or change_protection shows userfaultfd's write-protections. */
  uffdTraced?: boolean;
  /** A kprobe on folio_unlock (with the folio) shows when a migration lets go of its folios. */
  folioUnlockTraced?: boolean;
  /** The trace has task:task_newtask (else sched_process_fork stands in, flags from the syscall). */
  newTaskTraced?: boolean;
  /** change_protection is probed with its flags: it, not the earlier uffd_wp_range or
   *  mwriteprotect_range entry (which may still wait for the mmap_lock), changes the PTEs. */
  changeProtectionTraced?: boolean;
  /** The mmu notifier is probed with its range and event: a protection change lands at its
   *  MMU_NOTIFY_PROTECTION_VMA notifier (change_pud_range starts it, then changes the PTEs). */
  protectionNotifierTraced?: boolean;
  /** The trace has a kprobe on copy_page_range with the source VMA's start. */
  copyPageRangeTraced?: boolean;
}

export class Adapter {
  pending = new PendingFaults();
  /** Folios a migration (from try_to_migrate) or ksmd (from try_to_merge_one_page) holds locked,
   *  by PFN, until the folio_unlock that names it. */
  lockedUntilUnlock = new Map<number | null, Folio>();
  /** The KSM page ksmd just merged a page into, until the free that names the page. */
  ksmReplacing = new Map<number, Folio>();
  /** The THP each task's collapse allocated, until its isolation succeeds. */
  collapse = new Map<number, { pfn: number }>();
  syscalls = new Map<number, Syscall>();
  /** The mm a fork or exec is building, per task, until task_newtask / sched_process_exec. */
  building = new Map<number, { kind: 'fork' | 'exec'; mm: Mm | null; flags: number | null }>();
  byMmId = new Map<number, Mm>();
  readonly cache = new PageCache();
  /** The mms a task's bulk work made uncertain (rss.ts uncertain), by that task: cleared by its next other event. */
  uncertainByTid = new Map<number, Mm[]>();
  retiredMmIds: Mm[] = [];
  /** A syscall's page-table work, run when the trace shows it begin; `readLock`: it begins once the read lock is held. */
  deferred = new Map<number, { run: () => void; readLock: boolean }>();
  /** Per task, a userfaultfd protection change waiting for its notifier (or the task's next event). */
  protecting = new Map<number, () => void>();
  /** Forks whose VMAs are copied as the trace shows copy_page_range reach them. */
  pendingCopies = new Map<number, { dst: Mm; src: Mm; vmas: Vma[] }>();
  fileSeq = 0;

  readonly dx: DeviceExclusive | null;
  /** Events the model could not use, with why (damaged fields, a cut marker): counted, the first kept. */
  readonly skipped = { count: 0, first: null as { eventId: number; why: string } | null };

  constructor(
    readonly m: Model,
    readonly out: AdapterOutput & ExclusiveOutput,
    readonly opts: AdapterOptions,
  ) {
    m.onFileUnmapped = (file) => this.cache.drop(m, file);
    this.dx = opts.design
      ? new DeviceExclusive(m, opts.design, out, (t, vma, va, w, n) =>
          gupFault(this, t, vma, va, w, n),
        )
      : null;
  }

  task(e: ReplayEvent): Task {
    let t = this.m.task(e.tid);
    if (!t) {
      // First sight of a task the trace did not see created: its process and address space
      // existed before the trace; a known tgid joins the existing process.
      const tgid = e.tgid ?? e.tid;
      const leader = tgid !== e.tid ? this.m.tasks.get(tgid) : undefined;
      // Kernel threads have no address space (their events act on others': ksmd, kswapd...).
      const mm =
        KERNEL_THREAD.test(e.comm) || e.tid === 0 ? null : (leader?.mm ?? this.m.newMm(tgid, true));
      if (mm) mm.users++;
      t = {
        tid: e.tid,
        tgid,
        mm,
        comm: e.comm,
        first: e.ts,
        last: e.ts,
        preTrace: true,
        exited: false,
        rssCache: [0, 0, 0, 0],
        rssEvents: 0,
      };
      this.m.setTask(t);
    }
    t.last = e.ts;
    t.comm = e.comm;
    return t;
  }

  handle(e: ReplayEvent): void {
    const c = e.eventClass;
    const pf = this.pending.get(e.tid);
    // 6.1's rss_stat inside a fault is handle_mm_fault's check_sync_rss_stat, before the fault's work.
    if (pf && !(c & IN_FAULT) && !(e.event === 'kmem:rss_stat' && this.m.k.splitRssCounting))
      finishFault(this, pf, e);
    if (e.event === 'mmap_lock:mmap_lock_acquire_returned' && e.success === 1) {
      if (e.write === 0) {
        if (pf) pf.holdsLock = true;
      } else finishLockHolders(this, e);
    }
    // Batches a bulk operation announced but the kernel did not report (it skipped an empty page
    // table the model thought populated) must not shift later rows: they end with the burst.
    if (!(c & (IN_BULK | PROBE))) {
      const t = this.m.task(e.tid);
      if (t?.mm) for (const q of t.mm.rssTrajectory) if (q.length) q.length = 0;
      const b = this.building.size ? this.building.get(e.tid)?.mm : undefined;
      if (b) for (const q of b.rssTrajectory) if (q.length) q.length = 0;
    }
    this.dx?.advanceTo(e);
    // Mostly empty: their size is read before a hash lookup per event.
    const protect = this.protecting.size ? this.protecting.get(e.tid) : undefined;
    if (protect && e.event !== 'kprobe:mmu_notifier_invalidate_range_start') {
      // No notifier came (nothing was mapped): the change is done by the task's next event.
      this.protecting.delete(e.tid);
      protect();
    }
    const work = this.deferred.size ? this.deferred.get(e.tid) : undefined;
    // A read lock taken (write=false) does not start work that needs the write lock.
    if (
      work &&
      c & STARTS_WORK &&
      !(e.event === 'mmap_lock:mmap_lock_acquire_returned' && e.write === 0 && !work.readLock)
    ) {
      this.deferred.delete(e.tid);
      work.run();
    }
    if (this.retiredMmIds.length && !(c & IN_BULK)) {
      for (const mm of this.retiredMmIds)
        if (mm.mmId !== null && this.byMmId.get(mm.mmId) === mm) this.byMmId.delete(mm.mmId);
      this.retiredMmIds.length = 0;
    }
    if (this.uncertainByTid.size && !(c & IN_BULK)) {
      const mms = this.uncertainByTid.get(e.tid);
      if (mms) {
        this.uncertainByTid.delete(e.tid);
        for (const mm of mms) if (mm.uncertain?.tid === e.tid) mm.uncertain = null;
      }
    }
    switch (e.event) {
      case 'exceptions:page_fault_kernel':
      case 'exceptions:page_fault_user': {
        // Kernel addresses (vmalloc, a bad pointer) are not the model's; a kernel-mode access to
        // user memory (put_user, copy_to_user) faults like a user access.
        if (e.address! >= USER_VA_END) return;
        const t = this.task(e);
        check_sync_rss_stat(this, t);
        this.pending.set({
          task: t,
          va: e.address!,
          errorCode: e.error_code!,
          eventId: e.id,
          ev: { allocs: [], allocsTraced: this.opts.allocsTraced, pgtables: 0 },
          backedOut: false,
          holdsLock: false,
        });
        return;
      }
      case 'kmem:mm_page_alloc':
        mm_page_alloc(this, e, pf);
        return;
      case 'mmap_lock:mmap_lock_released':
        if (e.write === 0) this.dx?.readNotBefore(this.task(e));
        return;
      case 'kmem:mm_page_free':
        mm_page_free(this, e, pf);
        return;
      case 'pagemap:mm_lru_insertion':
        mm_lru_insertion(this, e);
        return;
      case 'kmem:rss_stat':
        rssStat(this, e);
        return;
      case 'task:task_newtask':
        newTask(this, e);
        return;
      case 'sched:sched_process_fork':
        if (!this.opts.newTaskTraced) forkWithoutNewTask(this, e);
        return;
      case 'sched:sched_process_exec':
        exec(this, e);
        return;
      case 'sched:sched_process_exit':
        exit(this, e);
        return;
      case 'ftrace:print':
        if (e.buf?.startsWith('MMREPLAY_CKPT ')) checkpoint(this, e);
        else if (e.buf?.startsWith('RACE_BEGIN ') || e.buf?.startsWith('RACE_END '))
          this.dx?.marker(e, this.task(e));
        return;
      case 'kprobe:make_device_exclusive_range':
        this.dx?.callEnter(e, this.task(e));
        return;
      case 'kretprobe:make_device_exclusive_range':
        this.dx?.callReturn(e, this.task(e));
        return;
      case 'kprobe:get_user_pages_remote':
        this.dx?.gupEnter(e, this.task(e));
        return;
      case 'kretprobe:get_user_pages_remote':
        this.dx?.gupReturn(e, this.task(e));
        return;
      case 'kprobe:rmap_walk':
        this.dx?.rmapWalk(e, this.task(e));
        return;
      case 'kprobe:try_to_migrate':
      case 'kprobe:try_to_merge_one_page':
        folioLocked(this, e);
        return;
      case 'kprobe:folio_unlock':
        folioUnlock(this, e);
        return;
      case 'kprobe:page_make_device_exclusive_one':
        this.dx?.walkReached(e, this.task(e));
        return;
      case 'tlb:tlb_flush':
        this.dx?.walkFlushed(e, this.task(e));
        return;
      case 'kprobe:folio_add_new_anon_rmap':
        this.dx?.newAnonRmap(e, this.task(e));
        return;
      case 'kretprobe:vmalloc':
        this.dx?.bounceAllocated(this.task(e));
        return;
      case 'kprobe:do_wp_page':
        kernelWpFault(this, e, pf);
        return;
      case 'kprobe:copy_page_range':
        finishLockHolders(this, e, e.vm_start ?? 0, e.vm_end ?? Infinity);
        copyPageRange(this, e.tid, e.vm_start, false, e.vm_end);
        return;
      case 'kprobe:uffd_wp_range': {
        if (this.opts.changeProtectionTraced) return;
        const mm = this.task(e).mm;
        const { start, len, enable_wp } = e;
        if (mm && start !== null && len !== null && enable_wp !== null)
          this.protect(e, () => uffd_wp_range(this.m, mm, start, start + len, enable_wp !== 0));
        return;
      }
      case 'kprobe:change_protection': {
        // mprotect's calls are replayed from its syscall; userfaultfd's carry MM_CP_UFFD_WP(_RESOLVE).
        const mm = this.task(e).mm;
        const { start, end } = e;
        const flags = e.cp_flags ?? 0;
        if (mm && start !== null && end !== null && flags & (MM_CP_UFFD_WP | MM_CP_UFFD_WP_RESOLVE))
          this.protect(e, () =>
            uffd_wp_range(this.m, mm, start, end, (flags & MM_CP_UFFD_WP) !== 0),
          );
        return;
      }
      case 'kprobe:mmu_notifier_invalidate_range_start': {
        invalidateRangeStart(this, e, pf);
        const change = this.protecting.get(e.tid);
        if (change) {
          this.protecting.delete(e.tid);
          change();
        }
        return;
      }
      case 'kprobe:unmap_page_range': {
        // Without syscall events, unmap_single_vma's zaps (MADV_DONTNEED, munmap) show only here.
        const { addr, end } = e;
        if (!this.opts.syscallsTraced && addr !== null && end !== null) {
          const t = this.task(e);
          if (t.mm && !t.mm.exiting && !t.exited) zap_pte_range(this.m, t.mm, addr, end);
        }
        return;
      }
      case 'migrate:set_migration_pte':
        migrationPte(this, e, true);
        return;
      case 'migrate:remove_migration_pte':
        migrationPte(this, e, false);
        return;
      case 'ksm:ksm_merge_with_ksm_page':
        ksm_merge_with_ksm_page(this, e);
        return;
      case 'huge_memory:mm_collapse_huge_page_isolate':
        collapseHugePage(this, e);
        return;
    }
    if (e.event.startsWith('syscalls:sys_enter_')) sysEnter(this, e);
    else if (e.event.startsWith('syscalls:sys_exit_')) sysExit(this, e);
  }

  /** An event the model cannot use: the replay goes on and says how many there were. */
  /**
   * A userfaultfd protection change: at its notifier where that is traced, else now. Either way the
   * probe's event made it (the culprit a write-protected page names).
   */
  protect(e: ReplayEvent, change: () => void): void {
    const id = e.id;
    const run = () => {
      const at = this.m.eventId;
      this.m.eventId = id;
      change();
      this.m.eventId = at;
    };
    if (this.opts.protectionNotifierTraced) this.protecting.set(e.tid, run);
    else run();
  }

  skip(e: ReplayEvent, why: string): void {
    this.skipped.count++;
    this.skipped.first ??= { eventId: e.id, why };
  }

  /** Ends every fault still waiting for follow-up events (end of trace). */
  flush(): void {
    for (const pf of this.pending.values()) finishFault(this, pf, null);
    this.dx?.flush();
  }
}
