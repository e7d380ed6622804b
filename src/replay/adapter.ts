// From trace events to model operations. Where a trace does not say something, the rule used is
// written next to the code, and what it produced is marked `inferred` (or `unknown`).
import { copy_page_range, rss_batch_begin, split_huge_page, do_anonymous_page, do_fault, forget_guessed_pte, map_unseen_file_page, do_huge_pmd_anonymous_page, do_wp_page, wp_page_copy, thp_eligible, zap_pte_range, PageCache, type FaultEvidence } from './memory.js';
import { do_brk, do_madvise, do_mmap, do_mprotect, do_mremap, do_munmap, exit_mmap, MAP_FIXED, MAP_FIXED_NOREPLACE } from './mmap.js';
import { DeviceExclusive, type Design, type ExclusiveOutput } from './device_exclusive.js';
import { MMU_NOTIFY, Model } from './model.js';
import { LEVEL_NAMES } from './pgtable.js';
import { delete_from_swap_cache, do_swap_page } from './swap.js';
import { collapse_huge_page } from './khugepaged.js';
import { replace_page, write_protect_page } from './ksm.js';
import { uffd_wp_guess, uffd_wp_range, UFFDIO_WRITEPROTECT } from './userfaultfd.js';
import { HPAGE_PMD_SIZE, PAGE_SIZE, RSS_MEMBERS, type Folio, type Mm, type Pte, type Task, type Vma } from './types.js';

/** One event as the replay reads it: common columns plus up to six numeric slots and a string. */
export interface ReplayEvent {
  id: bigint;
  ts: bigint;
  cpu: number;
  tid: number;
  tgid: number | null;
  comm: string;
  event: string;
  a: number | null;
  b: number | null;
  c: number | null;
  d: number | null;
  e: number | null;
  f: number | null;
  s: string | null;
}

export interface RssRow {
  eventId: bigint;
  ts: bigint;
  mm: number | null;
  member: string;
  kernel: number;
  model: number | null;
  match: boolean | null;
  note: string | null;
}

export interface CheckpointRow {
  eventId: bigint;
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
  eventId: bigint;
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

interface PendingFault {
  task: Task;
  va: number;
  errorCode: number;
  eventId: bigint;
  ev: FaultEvidence;
  /** The fault freed the page it allocated: it lost a race (pte_same failed), someone else mapped
   *  the address first, and the fault maps nothing. */
  backedOut?: boolean;
  /** The fault holds its mmap_lock (read) or VMA lock: the trace showed it taken, or do_wp_page run. */
  holdsLock?: boolean;
}

interface Syscall {
  name: string;
  e: ReplayEvent;
}

const CLONE_VM = 0x100;
const CLONE_THREAD = 0x10000;
const CLONE_VFORK = 0x4000;
const SIGCHLD = 17;

/**
 * Events that occur inside a fault without ending it: the do_wp_page kprobe fires in the fault it
 * is part of; sched_process_free is an RCU callback (softirq) that can interrupt one.
 */
const WITHIN_FAULT = new Set([
  'mmap_lock:mmap_lock_acquire_returned',
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
const FAULT_FLAG_USER = 0x40;
const FAULT_FLAG_REMOTE = 0x80;
/** arch/x86/include/asm/trap_pf.h: the page fault error code's bits. */
const X86_PF_PROT = 1;
const X86_PF_WRITE = 2;
/**
 * The first of these in a task after munmap/madvise/mprotect's entry marks when the page-table work
 * began: a notifier or unmap kprobe where traced, else the rss_stat, frees or exit that follow it.
 * (The entry event itself precedes the mmap_lock wait, which can be long under contention.)
 */
const STARTS_SYSCALL_WORK = new Set([
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
const MM_CP_UFFD_WP = 1 << 2;
const MM_CP_UFFD_WP_RESOLVE = 1 << 3;

const PGTABLE_GFP = /^GFP_KERNEL_ACCOUNT\|(?:__GFP_ZERO(?:\|__GFP_COMP)?|__GFP_COMP\|__GFP_ZERO)$/;

/** Comms of the kernel's own threads, which a trace shows acting on user memory (no task creates them in a trace). */
const KERNEL_THREAD = /^(?:kworker\/|ksoftirqd\/|migration\/|cpuhp\/|rcu_|kthreadd$|ksmd$|khugepaged$|kswapd\d*$|kcompactd\d*$|oom_reaper$|kauditd$|swapper)/;

/** TASK_SIZE with 5-level paging (arch/x86/include/asm/page_64_types.h): above it is the kernel's. */
const USER_VA_END = 2 ** 56;
/** Syscalls whose (addr, len) the model maps, unmaps or changes page by page. */
const RANGE_SYSCALLS = new Set(['mmap', 'munmap', 'mprotect', 'madvise', 'mremap']);

/** Events that occur inside a bulk page-table operation (fork copy, zap, exit) without ending it. */
const WITHIN_BULK = new Set([...WITHIN_FAULT, 'kmem:rss_stat']);

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
  /** The trace has a kprobe on copy_page_range with the source VMA's start. */
  copyPageRangeTraced?: boolean;
}

export class Adapter {
  private pending = new Map<number, PendingFault>();
  /** Folios a migration still holds locked after remove_migration_pte, by PFN, until folio_unlock. */
  private migrationLocked = new Map<bigint | null, Folio>();
  /** The KSM page ksmd just merged a page into, until the free that names the page. */
  private ksmReplacing = new Map<number, Folio>();
  /** The THP each task's collapse allocated, until its isolation succeeds. */
  private collapse = new Map<number, { pfn: bigint }>();
  private syscalls = new Map<number, Syscall>();
  /** The mm a fork or exec is building, per task, until task_newtask / sched_process_exec. */
  private building = new Map<number, { kind: 'fork' | 'exec'; mm: Mm | null; flags: number | null }>();
  private byMmId = new Map<number, Mm>();
  readonly cache = new PageCache();
  private uncertainMms = new Set<Mm>();
  private retiredMmIds: Mm[] = [];
  /** Page-table work a syscall does after its entry event, applied when the trace shows it start. */
  private deferred = new Map<number, () => void>();
  /** Forks whose VMAs are copied as the trace shows copy_page_range reach them. */
  private pendingCopies = new Map<number, { dst: Mm; src: Mm; vmas: Vma[] }>();
  private fileSeq = 0;

  readonly dx: DeviceExclusive | null;
  /** Events the model could not use, with why (damaged fields, a cut marker): counted, the first kept. */
  readonly skipped = { count: 0, first: null as { eventId: bigint; why: string } | null };

  constructor(
    readonly m: Model,
    readonly out: AdapterOutput & ExclusiveOutput,
    readonly opts: AdapterOptions,
  ) {
    m.onFileUnmapped = (file) => this.cache.drop(m, file);
    this.dx = opts.design ? new DeviceExclusive(m, opts.design, out, (t, vma, va, w, n) => this.gupFault(t, vma, va, w, n)) : null;
  }

  task(e: ReplayEvent): Task {
    let t = this.m.tasks.get(e.tid);
    if (!t) {
      // First sight of a task the trace did not see created: its process and address space
      // existed before the trace; a known tgid joins the existing process.
      const tgid = e.tgid ?? e.tid;
      const leader = tgid !== e.tid ? this.m.tasks.get(tgid) : undefined;
      // Kernel threads have no address space (their events act on others': ksmd, kswapd...).
      const mm = KERNEL_THREAD.test(e.comm) || e.tid === 0 ? null : (leader?.mm ?? this.m.newMm(tgid, true));
      if (mm) mm.users++;
      t = { tid: e.tid, tgid, mm, comm: e.comm, first: e.ts, last: e.ts, preTrace: true, exited: false, rssCache: [0, 0, 0, 0], rssEvents: 0 };
      this.m.tasks.set(e.tid, t);
    }
    t.last = e.ts;
    t.comm = e.comm;
    return t;
  }

  handle(e: ReplayEvent): void {
    const m = this.m;
    const pf = this.pending.get(e.tid);
    // 6.1's rss_stat inside a fault is handle_mm_fault's check_sync_rss_stat, before the fault's work.
    if (pf && !WITHIN_FAULT.has(e.event) && !(e.event === 'kmem:rss_stat' && this.m.k.splitRssCounting)) this.finishFault(pf, e);
    if (e.event === 'mmap_lock:mmap_lock_acquire_returned' && e.b === 1) {
      if (e.a === 0) {
        if (pf) pf.holdsLock = true;
      } else this.finishLockHolders(e);
    }
    // Batches a bulk operation announced but the kernel did not report (it skipped an empty page
    // table the model thought populated) must not shift later rows: they end with the burst.
    if (!WITHIN_BULK.has(e.event) && !e.event.startsWith('kprobe:') && !e.event.startsWith('kretprobe:')) {
      const t = this.m.tasks.get(e.tid);
      if (t?.mm) for (const q of t.mm.rssTrajectory) if (q.length) q.length = 0;
      const b = this.building.get(e.tid)?.mm;
      if (b) for (const q of b.rssTrajectory) if (q.length) q.length = 0;
    }
    this.dx?.advanceTo(e.ts);
    const work = this.deferred.get(e.tid);
    // A read lock taken (write=false) does not start work that needs the write lock.
    if (work && STARTS_SYSCALL_WORK.has(e.event) && !(e.event === 'mmap_lock:mmap_lock_acquire_returned' && e.a === 0)) {
      this.deferred.delete(e.tid);
      work();
    }
    if (this.retiredMmIds.length && !WITHIN_BULK.has(e.event)) {
      for (const mm of this.retiredMmIds) if (mm.mmId !== null && this.byMmId.get(mm.mmId) === mm) this.byMmId.delete(mm.mmId);
      this.retiredMmIds.length = 0;
    }
    if (this.uncertainMms.size && !WITHIN_BULK.has(e.event)) {
      for (const mm of this.uncertainMms) {
        if (mm.uncertain?.tid === e.tid) {
          mm.uncertain = null;
          this.uncertainMms.delete(mm);
        }
      }
    }
    switch (e.event) {
      case 'exceptions:page_fault_kernel':
      case 'exceptions:page_fault_user': {
        // Kernel addresses (vmalloc, a bad pointer) are not the model's; a kernel-mode access to
        // user memory (put_user, copy_to_user) faults like a user access.
        if (e.a! >= USER_VA_END) return;
        const t = this.task(e);
        this.check_sync_rss_stat(t);
        this.pending.set(e.tid, { task: t, va: e.a!, errorCode: e.b!, eventId: e.id, ev: { allocs: [], allocsTraced: this.opts.allocsTraced, pgtables: 0 } });
        return;
      }
      case 'kmem:mm_page_alloc': {
        // vmalloc'ed kernel buffers (GFP_KERNEL|__GFP_HIGHMEM, not movable): test_hmm's bounce buffer.
        if (!pf && e.s && /__GFP_HIGHMEM/.test(e.s) && !/MOVABLE/.test(e.s)) this.dx?.pageAlloc(this.task(e));
        // A user page allocated inside a task's fault is that fault's page (GFP_HIGHUSER_MOVABLE
        // for 4K pages, GFP_TRANSHUGE* for THPs); page-table pages are GFP_KERNEL and ignored.
        if (pf && e.s && /MOVABLE|TRANSHUGE/.test(e.s)) pf.ev.allocs.push({ pfn: BigInt(e.a!), order: e.b! });
        // A THP allocated outside a fault is a collapse's (khugepaged or MADV_COLLAPSE).
        else if (!pf && e.b === 9 && e.s && /TRANSHUGE/.test(e.s)) this.collapse.set(e.tid, { pfn: BigInt(e.a!) });
        // GFP_PGTABLE_USER (GFP_KERNEL_ACCOUNT|__GFP_ZERO, with __GFP_COMP where the kernel adds it,
        // in either order): a page-table page the fault needed.
        else if (pf && e.b === 0 && e.s && PGTABLE_GFP.test(e.s)) pf.ev.pgtables++;
        return;
      }
      case 'kmem:mm_page_free': {
        // Before 6.16 sched_process_exit comes after exit_mm: an exiting task's frees are its exit_mmap.
        const t = this.task(e);
        if (t.mm?.exiting && !t.mm.dead && t.mm.users <= 1 && !this.m.k.exitTracepointBeforeExitMm) this.exit_mmap(t.mm, t.tid);
        const pfn = BigInt(e.a!);
        const i = pf ? pf.ev.allocs.findIndex((a) => a.pfn === pfn) : -1;
        if (pf && i >= 0) {
          pf.ev.allocs.splice(i, 1);
          pf.backedOut = true;
          return;
        }
        const kpage = this.ksmReplacing.get(e.tid);
        this.ksmReplacing.delete(e.tid);
        const f = m.byPfn.get(pfn);
        if (!f || f.freed) return;
        // ksmd frees the page it just replaced by a KSM page (the merge event came first).
        if (kpage && f.mapcount === 1 && !f.ksm) {
          const at = [...f.rmap.values()][0];
          replace_page(m, m.mms[at.mm], at.va, kpage);
        } else if (f.mapcount + f.entireMapcount > 0) this.freedWhileMapped(f, e);
        // Reclaim frees a swapped-out page once written (__remove_mapping): it leaves the swap cache.
        else if (f.swapSlot !== null) delete_from_swap_cache(m, f);
        return;
      }
      case 'pagemap:mm_lru_insertion': {
        const f = m.byPfn.get(BigInt(e.a!));
        if (f && !f.lru) {
          m.touchFolio(f);
          f.lru = true;
        }
        return;
      }
      case 'kmem:rss_stat':
        this.rssStat(e);
        return;
      case 'task:task_newtask':
        this.newTask(e);
        return;
      case 'sched:sched_process_exec':
        this.exec(e);
        return;
      case 'sched:sched_process_exit':
        this.exit(e);
        return;
      case 'ftrace:print':
        if (e.s?.startsWith('MMREPLAY_CKPT ')) this.checkpoint(e);
        else if (e.s?.startsWith('RACE_BEGIN ') || e.s?.startsWith('RACE_END ')) this.dx?.marker(e, this.task(e));
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
      case 'kprobe:folio_unlock': {
        const f = e.a === null ? undefined : this.migrationLocked.get(BigInt(e.a));
        if (f) {
          this.migrationLocked.delete(f.pfn);
          f.locked = false;
        }
        return;
      }
      case 'kprobe:page_make_device_exclusive_one':
        this.dx?.walkReached(e, this.task(e));
        return;
      case 'kprobe:folio_add_new_anon_rmap':
        this.dx?.newAnonRmap(e, this.task(e));
        return;
      case 'kretprobe:vmalloc':
        this.dx?.bounceAllocated(this.task(e));
        return;
      case 'kprobe:do_wp_page':
        this.kernelWpFault(e, pf);
        return;
      case 'kprobe:copy_page_range':
        this.finishLockHolders(e, e.a ?? 0, e.b ?? Infinity);
        this.copyPageRange(e.tid, e.a, false, e.b);
        return;
      case 'kprobe:uffd_wp_range': {
        const mm = this.task(e).mm;
        if (mm && e.a !== null && e.b !== null && e.c !== null) uffd_wp_range(this.m, mm, e.a, e.a + e.b, e.c !== 0);
        return;
      }
      case 'kprobe:change_protection': {
        // mprotect's calls are replayed from its syscall; userfaultfd's carry MM_CP_UFFD_WP(_RESOLVE).
        const mm = this.task(e).mm;
        const flags = e.c ?? 0;
        if (mm && e.a !== null && e.b !== null && flags & (MM_CP_UFFD_WP | MM_CP_UFFD_WP_RESOLVE)) uffd_wp_range(this.m, mm, e.a, e.b, (flags & MM_CP_UFFD_WP) !== 0);
        return;
      }
      case 'kprobe:mmu_notifier_invalidate_range_start':
        this.invalidateRangeStart(e, pf);
        return;
      case 'kprobe:unmap_page_range':
        // Without syscall events, unmap_single_vma's zaps (MADV_DONTNEED, munmap) show only here.
        if (!this.opts.syscallsTraced && e.a !== null && e.b !== null) {
          const t = this.task(e);
          if (t.mm && !t.mm.exiting && !t.exited) zap_pte_range(this.m, t.mm, e.a, e.b);
        }
        return;
      case 'migrate:set_migration_pte':
        this.migrationPte(e, true);
        return;
      case 'migrate:remove_migration_pte':
        this.migrationPte(e, false);
        return;
      case 'ksm:ksm_merge_with_ksm_page': {
        if (e.b !== 0) return;
        const f = m.byPfn.get(BigInt(e.a!));
        if (!f || f.freed) return;
        // Without "ksm " the page itself became the KSM page; with it, some page was replaced by
        // this KSM page, and which one the free that follows tells (the event names no address).
        if (e.c === 0) write_protect_page(m, f);
        else this.ksmReplacing.set(e.tid, f);
        return;
      }
      case 'huge_memory:mm_collapse_huge_page_isolate':
        this.collapseHugePage(e);
        return;
    }
    if (e.event.startsWith('syscalls:sys_enter_')) this.sysEnter(e);
    else if (e.event.startsWith('syscalls:sys_exit_')) this.sysExit(e);
  }

  /**
   * A task took its mm's mmap_lock for writing (fork's dup_mmap, munmap, mprotect): faults of other
   * tasks in that mm which held the lock (read, or the VMA lock the writer also waits for) ended
   * before, though their task's next event, which ends them in the replay, may come much later.
   * The same holds per VMA for fork's copy_page_range (dup_mmap write-locks each VMA, 6.4+): a fault
   * under the VMA lock can run while fork copies the VMAs before its own.
   */
  private finishLockHolders(e: ReplayEvent, start = 0, end = Infinity): void {
    const mm = this.m.tasks.get(e.tid)?.mm;
    if (!mm) return;
    for (const p of this.pending.values()) {
      if (p.holdsLock && p.task.tid !== e.tid && p.task.mm === mm && p.va >= start && p.va < end) this.finishFault(p, null);
    }
  }

  /**
   * do_wp_page entered with neither FAULT_FLAG_USER nor FAULT_FLAG_REMOTE is a kernel-mode write to
   * user memory (test_hmm's copy_to_user of its bounce buffer, put_user): the fault page_fault_kernel
   * would show, replayed as one (present, write) when that event is not traced. It cannot belong to a
   * pending user fault, nor to an earlier kernel-mode one (a reuse shows nothing the replay reads, so
   * that one is still pending): those end first. GUP's (REMOTE) are the device-exclusive model's.
   */
  private kernelWpFault(e: ReplayEvent, pf: PendingFault | undefined): void {
    const kernelMode = e.b !== null && (e.b & (FAULT_FLAG_USER | FAULT_FLAG_REMOTE)) === 0;
    if (this.opts.kernelFaultsTraced || !kernelMode || e.a === null || e.a >= USER_VA_END) {
      if (pf) pf.holdsLock = true;
      return;
    }
    if (pf) this.finishFault(pf, e);
    const t = this.task(e);
    this.check_sync_rss_stat(t);
    this.pending.set(e.tid, { task: t, va: e.a, errorCode: X86_PF_PROT | X86_PF_WRITE, eventId: e.id, ev: { allocs: [], allocsTraced: this.opts.allocsTraced, pgtables: 0 }, holdsLock: true });
  }

  /**
   * 6.1 SPLIT_RSS_COUNTING (mm/memory.c): the fault path counts pages in the task's cache
   * (add_mm_counter_fast), and handle_mm_fault folds the cache into the mm every 64 faults
   * (check_sync_rss_stat -> sync_mm_rss), which is when rss_stat fires. 6.2+ count at once.
   */
  private check_sync_rss_stat(t: Task): void {
    if (!this.m.k.splitRssCounting) return;
    if (t.rssEvents++ > 64) this.sync_mm_rss(t);
  }

  private sync_mm_rss(t: Task): void {
    t.rssEvents = 0;
    if (!t.mm) return;
    for (let i = 0; i < 4; i++) {
      if (t.rssCache[i]) {
        t.mm.rss[i] += t.rssCache[i];
        t.rssCache[i] = 0;
      }
    }
  }

  private finishFault(pf: PendingFault, next: ReplayEvent | null): void {
    this.pending.delete(pf.task.tid);
    const m = this.m;
    const mm = pf.task.mm;
    if (!mm) return;
    if (pf.backedOut && !pf.ev.allocs.length) return;
    const known = this.opts.allocsTraced ? this.pgtablesKnown(mm, pf.va) : null;
    const tablesBefore = m.pgtableAllocs;
    // Without split counting the fault counts in the mm at once: no closure to make per fault.
    if (!m.k.splitRssCounting) this.handle_mm_fault(pf, mm, next);
    else this.add_mm_counter_fast(pf.task, mm, () => this.handle_mm_fault(pf, mm, next));
    if (known !== null) {
      const model = m.pgtableAllocs - tablesBefore;
      const match = known === true ? model === pf.ev.pgtables : null;
      this.out.pgtable({ eventId: pf.eventId, mm: mm.id, va: pf.va, kernel: pf.ev.pgtables, model, match, note: known === true ? null : `not checkable: ${known}` });
    }
  }

  /**
   * 6.1 SPLIT_RSS_COUNTING: the counts a fault in the task's own mm makes go to the task's cache
   * (add_mm_counter_fast) until the next sync_mm_rss; 6.2+ count in the mm at once.
   */
  private add_mm_counter_fast(t: Task, mm: Mm, fault: () => void): void {
    if (!this.m.k.splitRssCounting || t.mm !== mm) return fault();
    const before = [...mm.rss];
    try {
      fault();
    } finally {
      for (let i = 0; i < 4; i++) {
        t.rssCache[i] += mm.rss[i] - before[i];
        mm.rss[i] = before[i];
      }
    }
  }

  /**
   * Whether the model knows which page-table pages over va exist: those it has are certain; one it
   * lacks is known absent only in an mm built in the trace, over a span no VMA the model first met
   * at a fault reaches (exec's ELF loader and argument copy fill those without fault events).
   */
  private pgtablesKnown(mm: Mm, va: number): true | string {
    const geo = this.m.geo;
    for (let l = 0; l < geo.spans.length; l++) {
      const span = geo.spans[l];
      const key = Math.floor(va / span);
      if (mm.pgtables[l].has(key)) return true;
      if (mm.pgtablesFromStart === false) return 'page tables made before the trace';
      const lo = key * span;
      const hi = lo + span;
      if (!mm.vmas.some((v) => v.start <= va && v.end > va)) return `a ${LEVEL_NAMES[l]} table over a VMA not seen created`;
      if (mm.vmas.some((v) => v.preTrace && v.start < hi && v.end > lo)) return `a ${LEVEL_NAMES[l]} table shared with a VMA not seen created`;
    }
    return true;
  }

  private handle_mm_fault(pf: PendingFault, mm: Mm, next: ReplayEvent | null): void {
    const m = this.m;
    const saved = [m.now, m.eventId];
    m.eventId = pf.eventId;
    const va = pf.va - (pf.va % PAGE_SIZE);
    const write = (pf.errorCode & X86_PF_WRITE) !== 0;
    const protection = (pf.errorCode & X86_PF_PROT) !== 0;
    let vma = m.find_vma(mm, va);
    if (!vma) vma = this.vmaOnFirstSight(mm, va, next);
    // A write fault a VMA the model never saw created did not SIGSEGV on proves it writable
    // (a private file mapping's data, written copy-on-write).
    if (vma.preTrace && write && !vma.write) {
      m.touchVma(mm, vma);
      vma.write = true;
    }
    let pte = m.pte(mm, va);
    if (pte?.kind === 'present' && !protection && pte.confidence === 'unknown') {
      // A not-present fault on a page the model only guessed present (a fault-around neighbour):
      // the guess was wrong; drop it and take the fault.
      forget_guessed_pte(m, mm, va);
      pte = undefined;
    }
    if (protection && write && (!pte || pte.kind === 'none') && vma.file !== null && !vma.shared) {
      pte = map_unseen_file_page(m, this.cache, mm, vma, va);
    }
    if (pte?.kind === 'present') {
      if (write && !pte.write) do_wp_page(m, mm, vma, va, pte, pf.ev);
      // else: spurious (another thread got there first) or a permission fault the model cannot see.
    } else if (pte && pte.kind !== 'none') {
      this.swapFault(mm, vma, va, pte, write, pf.ev);
    } else if (vma.file !== null) {
      // do_read_fault maps the neighbours already in the page cache (fault-around); which those
      // are is not in the trace, so the count this fault adds cannot be checked.
      if (!write) this.uncertain(mm, pf.task.tid, vma.preTrace ? 'fault-around in a file VMA mapped before the trace (extent and page cache unknown)' : 'fault-around maps the neighbouring pages already in the page cache, which the trace does not show');
      do_fault(m, this.cache, mm, vma, va, write, pf.ev);
    } else if (pf.ev.allocs.some((a) => a.order === 9) || (!this.opts.allocsTraced && write && thp_eligible(vma, va, this.opts.thp))) {
      do_huge_pmd_anonymous_page(m, mm, vma, va, write, pf.ev);
    } else {
      do_anonymous_page(m, mm, vma, va, write || (pf.ev.allocsTraced && pf.ev.allocs.length > 0), pf.ev);
    }
    [m.now, m.eventId] = saved as [bigint, bigint];
  }

  /**
   * The kernel freed a page the model still maps. When another process frees a shared anonymous
   * page, its other mappers must have broken COW first, unseen: a kernel-mode write (rseq's
   * put_user, a syscall's copy_to_user) faults as page_fault_kernel, which a trace without that
   * event does not show, and a GUP's per-page progress is interpolated. The model replays that
   * copy (wp_page_copy: a new page of unknown PFN) and says so; anything else is unexplained.
   */
  private freedWhileMapped(f: Folio, e: ReplayEvent): void {
    const m = this.m;
    const what = `mm_page_free pfn 0x${e.a!.toString(16)} while the model maps folio ${f.id} ${f.mapcount} times`;
    // Only another process's free says the mappers left copied it: the freeing task's own mapping
    // going unseen is a different story (GUP timing, a race) the model cannot settle this way.
    const freer = this.m.tasks.get(e.tid)?.mm;
    const elsewhere = [...f.rmap.values()].every((r) => this.m.mms[r.mm] !== freer);
    if (!f.anon || f.anonExclusive || f.entireMapcount > 0 || this.opts.kernelFaultsTraced || !elsewhere) {
      m.sink.violation('freed_page_still_mapped', what, m.label(f.preTrace));
      return;
    }
    for (const { mm: id, va } of [...f.rmap.values()]) {
      const mm = m.mms[id];
      const vma = m.find_vma(mm, va);
      if (vma) wp_page_copy(m, mm, vma, va, null);
    }
    m.sink.violation(
      'freed_page_still_mapped',
      `${what}: replayed as an unseen copy-on-write (a kernel-mode write, page_fault_kernel not traced, or a GUP FOLL_WRITE placed later than it ran)`,
      m.nearLoss ? 'lost-events' : 'untraced',
    );
  }

  /**
   * A collapse has cleared the PMD and isolated the pages when mm_collapse_huge_page_isolate fires;
   * the copy frees them next and mm_collapse_huge_page only closes the story. Neither names mm
   * (hashed) nor address: the scanned page does, through its rmap, and the THP allocated before
   * is the new folio.
   */
  private collapseHugePage(e: ReplayEvent): void {
    const c = this.collapse.get(e.tid);
    this.collapse.delete(e.tid);
    if (e.s !== 'succeeded' || !c) return;
    const scanPfn = BigInt(e.a!);
    const old = this.m.byPfn.get(scanPfn);
    const at = old && !old.freed ? [...old.rmap.values()][0] : undefined;
    if (!at) {
      this.m.sink.violation('collapse_unplaced', `mm_collapse_huge_page_isolate: pfn 0x${scanPfn.toString(16)} is mapped nowhere the model knows`, this.m.label(old?.preTrace ?? true));
      return;
    }
    const mm = this.m.mms[at.mm];
    const haddr = at.va - (at.va % HPAGE_PMD_SIZE);
    const vma = this.m.find_vma(mm, haddr);
    if (vma) collapse_huge_page(this.m, mm, vma, haddr, c.pfn);
  }

  /** A fault on a non-present entry (do_swap_page): swap-in, or a device-exclusive entry restored. */
  swapFault(mm: Mm, vma: Vma, va: number, pte: Pte, write: boolean, ev: FaultEvidence | null = null): void {
    if (pte.kind === 'swap') do_swap_page(this.m, this.m.k, mm, vma, va, pte, write, ev);
    else this.dx?.swapFault(mm, vma, va, pte, write);
  }

  /**
   * handle_mm_fault as GUP's faultin_page calls it: no page_fault_user. Where the trace shows
   * whether the fault mapped a new anonymous page (newAnon), that settles do_wp_page's copy or reuse.
   */
  gupFault(task: Task, vma: Vma, va: number, write: boolean, newAnon: boolean | null): void {
    this.check_sync_rss_stat(task);
    this.add_mm_counter_fast(task, task.mm!, () => this.gupHandleMmFault(task, vma, va, write, newAnon));
  }

  private gupHandleMmFault(task: Task, vma: Vma, va: number, write: boolean, newAnon: boolean | null): void {
    const mm = task.mm!;
    const pte = this.m.pte(mm, va);
    if (pte?.kind === 'present') {
      if (write && !pte.write) do_wp_page(this.m, mm, vma, va, pte, newAnon === null ? null : { allocs: [], allocsTraced: true, pgtables: 0, newAnon });
    } else if (pte && pte.kind !== 'none') this.swapFault(mm, vma, va, pte, write);
    else if (vma.file !== null) do_fault(this.m, this.cache, mm, vma, va, write, null);
    else {
      const pfn = this.dx?.takeRmapAhead(mm, va);
      do_anonymous_page(this.m, mm, vma, va, write, pfn === undefined ? null : { allocs: [{ pfn, order: 0 }], allocsTraced: true, pgtables: 0 });
    }
  }

  /**
   * A fault outside every VMA the model knows: the mapping predates the trace (or came from exec's
   * ELF loader, which makes no mmap calls). Rule: an anonymous private read-write VMA of one page,
   * unless the rss_stat that ends the fault counts a file page.
   */
  private vmaOnFirstSight(mm: Mm, va: number, next: ReplayEvent | null): Vma {
    const fileBacked = next?.event === 'kmem:rss_stat' && next.b === 0;
    // A file mapping is assumed to span the fault-around window (16 pages), clipped by neighbours.
    let start = va;
    let end = va + PAGE_SIZE;
    if (fileBacked) {
      const win = 16 * PAGE_SIZE;
      start = va - (va % win);
      end = start + win;
      for (const v of mm.vmas) {
        if (v.end <= va && v.end > start) start = v.end;
        if (v.start > va && v.start < end) end = v.start;
      }
    }
    const vma = this.m.newVma({
      start,
      end,
      read: true,
      write: !fileBacked,
      exec: false,
      shared: false,
      file: fileBacked ? `pre-trace:${mm.id}:${va.toString(16)}` : null,
      pgoff: 0,
      growsdown: false,
      hugepage: 'default',
      mergeable: false,
      dontfork: false,
      preTrace: true,
    });
    this.m.insertVma(mm, vma);
    return vma;
  }

  /** An event the model cannot use: the replay goes on and says how many there were. */
  skip(e: ReplayEvent, why: string): void {
    this.skipped.count++;
    this.skipped.first ??= { eventId: e.id, why };
  }

  private rssStat(e: ReplayEvent): void {
    const m = this.m;
    // A member the model does not count (another kernel's, or a damaged line) or a field missing.
    if (e.a === null || e.c === null) {
      this.skip(e, 'rss_stat without mm_id or size');
      return;
    }
    if (e.b === null || RSS_MEMBERS[e.b] === undefined) {
      this.skip(e, `rss_stat member ${e.b ?? '(a name the format does not list)'} is not one the model counts (${RSS_MEMBERS.join(', ')})`);
      return;
    }
    const t = this.task(e);
    const mmId = e.a!;
    const member = e.b!;
    const kernel = Math.round(e.c! / PAGE_SIZE);
    if (mmId === 0) {
      const mm = this.unhashedMm(e, t, member, kernel);
      if (mm) this.checkRss(e, t, mm, member, kernel);
      else this.unknownMmRss(e, member, kernel, 'unknown mm: mm_id 0 (pointer not hashed)');
      return;
    }
    let mm = this.byMmId.get(mmId) ?? null;
    if (!mm) {
      // Bind the hashed mm_id: to the mm a fork/exec in this task is building, else to the task's own.
      const b = this.building.get(t.tid);
      if (b?.mm && b.mm.mmId === null) mm = b.mm;
      else if (b?.kind === 'exec' && !b.mm) {
        b.mm = m.newMm(t.tgid, false);
        mm = b.mm;
      } else if (t.mm && t.mm.mmId === null) mm = t.mm;
      if (mm) {
        mm.mmId = mmId;
        this.byMmId.set(mmId, mm);
      }
    }
    if (mm) this.checkRss(e, t, mm, member, kernel);
    else this.unknownMmRss(e, member, kernel, 'unknown mm');
  }

  /** An rss_stat row the model cannot check: which mm it counts is not known. */
  private unknownMmRss(e: ReplayEvent, member: number, kernel: number, note: string): void {
    this.out.rss({ eventId: e.id, ts: e.ts, mm: null, member: RSS_MEMBERS[member] ?? String(member), kernel, model: null, match: null, note });
  }

  /**
   * The mm of an rss_stat whose mm_id is 0: the kernel could not hash the pointer (ptr_to_hashval
   * before crng is ready, as in the lab's 6.1 guest), so every mm has that id. curr=1 is the task's
   * own mm; curr=0 is the mm a fork builds, the new mm an exec fills (its counts only rise) until
   * the old one's fall (exec_mmap, then its teardown), or an exiting task's (exit_mm cleared
   * current->mm first).
   */
  private unhashedMm(e: ReplayEvent, t: Task, member: number, kernel: number): Mm | null {
    if (e.d === 1) return t.mm;
    const b = this.building.get(t.tid);
    if (b?.kind === 'fork') return b.mm;
    if (b?.kind === 'exec') {
      if (t.execMapped) return null;
      if (!b.mm) b.mm = this.m.newMm(t.tgid, false);
      if (t.mm && kernel < b.mm.rss[member]) {
        this.exec_mmap(t);
        return null;
      }
      return b.mm;
    }
    return t.mm?.exiting ? t.mm : null;
  }

  /** One rss_stat row: the kernel's count of member in mm against the model's. */
  private checkRss(e: ReplayEvent, t: Task, mm: Mm, member: number, kernel: number): void {
    const row: RssRow = { eventId: e.id, ts: e.ts, mm: mm.id, member: RSS_MEMBERS[member] ?? String(member), kernel, model: null, match: null, note: null };
    // During exec, the old mm's counters falling mean exec_mmap has replaced it.
    const b = this.building.get(t.tid);
    if (b?.kind === 'exec' && !t.execMapped && mm === t.mm && kernel < mm.rss[member]) this.exec_mmap(t);
    // A last user's counters falling means exit_mmap has begun (before sched_process_exit on 6.1/6.12).
    if (mm.exiting && !mm.dead && mm.users <= 1 && kernel < mm.rss[member]) this.exit_mmap(mm, t.tid);
    // 6.1: a count that equals the mm's plus what the task has cached is sync_mm_rss folding the
    // cache in (handle_mm_fault's check_sync_rss_stat, whose event counter also counts faults the
    // trace does not show: GUP's, kernel-mode ones).
    if (this.m.k.splitRssCounting && t.mm === mm && t.rssCache[member] !== 0 && kernel === mm.rss[member] + t.rssCache[member]) this.sync_mm_rss(t);
    const q = mm.rssTrajectory[member];
    const model = q.length ? q.shift()! : mm.rss[member];
    row.model = model;
    if (!mm.rssKnown[member]) {
      row.note = mm.preTrace ? 'calibration: pre-trace mm' : 'calibration: first count of a new mm';
      mm.rssKnown[member] = true;
    } else if (mm.uncertain) {
      row.note = `not checkable: ${mm.uncertain.why}`;
    } else if (this.building.get(t.tid)?.kind === 'exec' && this.building.get(t.tid)?.mm === mm) {
      // copy_strings fills the new stack through GUP: faults without page_fault_user events.
      row.note = 'not checkable: exec copies its arguments onto the new stack through GUP (no fault events)';
    } else {
      row.match = model === kernel;
      // Threads faulting on other CPUs count their page before their own rss_stat shows up.
      let racing = 0;
      if (!this.m.k.splitRssCounting) for (const p of this.pending.values()) if (p.task.mm === mm && p.task.tid !== t.tid) racing++;
      if (!row.match && kernel > model && kernel - model <= racing) {
        row.match = true;
        row.note = 'counted a concurrent fault on another CPU first';
        this.out.rss(row);
        return;
      }
      if (!row.match) row.note = this.explainRss(mm, t);
    }
    if (model !== kernel || !row.match) {
      // Adopt the kernel's count so one unexplained page does not taint every later row.
      const delta = kernel - model;
      mm.rss[member] += delta;
      for (let i = 0; i < q.length; i++) q[i] += delta;
      if (row.match === false) q.length = 0;
    }
    this.out.rss(row);
  }

  /** Marks mm's coming rss_stat rows (from tid, until its next other event) as not checkable. */
  private uncertain(mm: Mm, tid: number, why: string): void {
    mm.uncertain = { tid, why };
    this.uncertainMms.add(mm);
  }

  private explainRss(mm: Mm, t: Task): string {
    if (this.m.nearLoss) return 'lost events nearby';
    if (mm.preTrace || mm.vmas.some((v) => v.preTrace)) return 'pre-trace pages the model never saw';
    if (this.building.has(t.tid)) return 'kernel-internal access (GUP) without a fault event';
    return 'model';
  }

  private newTask(e: ReplayEvent): void {
    const m = this.m;
    const parent = this.task(e);
    const pid = e.a!;
    const flags = e.b!;
    const thread = (flags & CLONE_THREAD) !== 0;
    let mm: Mm | null;
    if (flags & CLONE_VM) mm = parent.mm;
    else {
      const work = this.deferred.get(parent.tid);
      if (work) {
        this.deferred.delete(parent.tid);
        work();
      }
      const b = this.building.get(parent.tid);
      mm = b?.kind === 'fork' && b.mm ? b.mm : this.dup_mm(parent);
      this.copyPageRange(parent.tid, null, true);
      this.building.delete(parent.tid);
    }
    if (mm) mm.users++;
    const tgid = thread ? parent.tgid : pid;
    if (mm && !(flags & CLONE_VM)) mm.tgid = tgid;
    const prev = m.tasks.get(pid);
    if (prev?.mm && prev.mm !== mm) prev.mm.users--;
    // The pid was reused: the task that had it is over.
    if (prev) this.out.task(prev);
    m.tasks.set(pid, { tid: pid, tgid, mm, comm: e.s ?? parent.comm, first: e.ts, last: e.ts, preTrace: false, exited: false, rssCache: [0, 0, 0, 0], rssEvents: 0 });
  }

  /** dup_mm -> dup_mmap: the child's VMAs, and their page tables where copy_page_range copies them. */
  dup_mm(parent: Task): Mm | null {
    const m = this.m;
    const src = parent.mm;
    if (!src) return null;
    const dst = m.newMm(parent.tgid, false);
    dst.brk = src.brk;
    dst.preTrace = src.preTrace;
    dst.pgtablesFromStart = src.pgtablesFromStart;
    rss_batch_begin(dst);
    const copies: Vma[] = [];
    for (const vma of src.vmas) {
      if (vma.dontfork) continue;
      const child = m.newVma({ ...vma, anonVma: vma.anonVma === null ? null : m.anonVmaId() });
      m.insertVma(dst, child);
      copies.push(vma);
    }
    // dup_mmap copies VMA by VMA; where the trace shows each copy_page_range (a kprobe with the
    // source VMA's start), each VMA is copied then, else all at once now.
    if (this.opts.copyPageRangeTraced) this.pendingCopies.set(parent.tid, { dst, src, vmas: copies });
    else for (const vma of copies) copy_page_range(m, dst, src, vma, (mm, va, pte) => this.restoreForFork(mm, va, pte));
    for (let i = 0; i < 4; i++) dst.rssKnown[i] = true;
    if (src.preTrace) this.uncertain(dst, parent.tid, 'fork copies page tables of VMAs mapped before the trace');
    return dst;
  }

  /** copy_page_range for the source VMA [start, end) of the fork a task is making (kprobe); the
   *  model's VMAs inside it are copied (the kernel may have merged what the model keeps apart). */
  private copyPageRange(tid: number, start: number | null, all = false, end: number | null = null): void {
    const p = this.pendingCopies.get(tid);
    if (!p) return;
    const copy = (vma: Vma) => copy_page_range(this.m, p.dst, p.src, vma, (mm, va, pte) => this.restoreForFork(mm, va, pte));
    if (all) {
      for (const v of p.vmas) copy(v);
      this.pendingCopies.delete(tid);
      return;
    }
    const last = end ?? (start === null ? 0 : start + 1);
    let i = -1;
    p.vmas.forEach((v, k) => {
      if (start !== null && v.start < last && v.end > start) i = k;
    });
    if (i < 0) return;
    // VMAs before it were skipped by vma_needs_copy (no kprobe hit), or are copied now in order.
    for (const v of p.vmas.splice(0, i + 1)) copy(v);
  }

  /** Device-exclusive entries at fork (try_restore_exclusive_pte). */
  restoreForFork(mm: Mm, va: number, pte: Pte): boolean {
    return this.dx ? this.dx.restoreForFork(mm, va, pte) : true;
  }

  private exec(e: ReplayEvent): void {
    const t = this.task(e);
    if (!t.execMapped) this.exec_mmap(t);
    this.building.delete(t.tid);
    t.execMapped = false;
    t.preTrace = false;
  }

  /**
   * exec_mmap: the new mm replaces the old one, which goes when its last user does. It happens
   * before sched_process_exec fires; the old mm's teardown rss_stat rows show when.
   */
  private exec_mmap(t: Task): void {
    const m = this.m;
    const b = this.building.get(t.tid);
    const old = t.mm;
    const mm = b?.kind === 'exec' && b.mm ? b.mm : m.newMm(t.tgid, false);
    // The ELF loader maps the binary, interpreter and stack without mmap calls.
    mm.preTrace = true;
    if (old) {
      old.users--;
      if (old.users <= 0) this.exit_mmap(old, t.tid);
    }
    mm.users++;
    t.mm = mm;
    t.execMapped = true;
  }

  private exit(e: ReplayEvent): void {
    const t = this.task(e);
    if (this.m.k.splitRssCounting) this.sync_mm_rss(t);
    t.exited = true;
    const mm = t.mm;
    if (!mm) return;
    mm.users--;
    if (mm.users <= 0 && !mm.dead) this.exit_mmap(mm, t.tid);
  }

  private exit_mmap(mm: Mm, tid: number): void {
    // do_exit syncs the exiting task's cached counts before exit_mm (6.1).
    const t = this.m.tasks.get(tid);
    if (t && this.m.k.splitRssCounting && t.mm === mm) this.sync_mm_rss(t);
    if (mm.preTrace) this.uncertain(mm, tid, 'exit unmaps VMAs mapped before the trace');
    exit_mmap(this.m, mm);
    // The mm_struct is freed: a later mm at the same address hashes to the same mm_id. The
    // binding goes when the exit's own rss_stat rows are over (the task's next other event).
    this.retiredMmIds.push(mm);
  }

  private sysEnter(e: ReplayEvent): void {
    const m = this.m;
    const t = this.task(e);
    const name = e.event.slice('syscalls:sys_enter_'.length);
    // A range past the top of user space, which the kernel refuses, is a damaged line (the model
    // would build a VMA of 2^64 bytes): skipped and located.
    const len = name === 'mremap' ? Math.max(e.b ?? 0, e.c ?? 0) : (e.b ?? 0);
    if (RANGE_SYSCALLS.has(name) && (name === 'mmap' ? 0 : (e.a ?? 0)) + len > USER_VA_END) {
      this.syscalls.delete(e.tid);
      return this.skip(e, `${name} of a range past the top of user space`);
    }
    this.syscalls.set(e.tid, { name, e });
    const mm = t.mm;
    if (!mm) return;
    if (mm.preTrace && (name === 'munmap' || name === 'madvise' || name === 'mremap' || (name === 'mmap' && e.d! & MAP_FIXED)) && !this.covered(mm, e.a!, name === 'mremap' ? e.b! : e.b!)) {
      this.uncertain(mm, t.tid, `${name} over VMAs mapped before the trace`);
    }
    const later = (work: () => void) =>
      this.deferred.set(t.tid, () => {
        const saved = [m.now, m.eventId] as const;
        m.eventId = e.id;
        work();
        m.eventId = saved[1];
      });
    switch (name) {
      case 'munmap':
        later(() => do_munmap(m, mm, e.a!, e.b!));
        return;
      case 'mprotect':
        later(() => do_mprotect(m, mm, e.a!, e.b!, e.c!));
        return;
      case 'madvise':
        later(() => do_madvise(m, mm, e.a!, e.b!, e.c! | 0));
        return;
      case 'mremap':
        if (e.c! < e.b!) do_munmap(m, mm, e.a! + e.c!, e.b! - e.c!);
        return;
      case 'mmap':
        if ((e.d! & MAP_FIXED) !== 0 && (e.d! & MAP_FIXED_NOREPLACE) === 0) do_munmap(m, mm, e.a!, e.b!);
        return;
      case 'clone':
      case 'fork': {
        // dup_mmap copies the page tables once it holds the parent's mmap_write_lock, which a
        // driver holding the read lock delays; rss_stat for the child's copy comes before
        // task_newtask. So the copy is made when the trace shows it begin (see STARTS_SYSCALL_WORK).
        const flags = name === 'fork' ? SIGCHLD : e.a!;
        if (flags & CLONE_VM) return;
        const b = { kind: 'fork' as const, mm: null as Mm | null, flags };
        this.building.set(t.tid, b);
        later(() => {
          if (this.building.get(t.tid) === b && !b.mm) b.mm = this.dup_mm(t);
        });
        return;
      }
      case 'vfork':
        this.building.set(t.tid, { kind: 'fork', mm: null, flags: CLONE_VM | CLONE_VFORK });
        return;
      case 'clone3':
        // Flags are behind a pointer: the copy is made at task_newtask.
        return;
      case 'execve':
      case 'execveat':
        this.building.set(t.tid, { kind: 'exec', mm: null, flags: null });
        return;
      case 'exit_group':
        mm.exiting = true;
        return;
      case 'ioctl':
        this.dx?.ioctlEnter(e, t);
        return;
    }
  }

  private sysExit(e: ReplayEvent): void {
    const m = this.m;
    const t = this.task(e);
    const name = e.event.slice('syscalls:sys_exit_'.length);
    const call = this.syscalls.get(e.tid);
    this.syscalls.delete(e.tid);
    const work = this.deferred.get(e.tid);
    if (work) {
      this.deferred.delete(e.tid);
      work();
    }
    const ret = e.a!;
    const failed = ret < 0 && ret > -4096;
    if (name === 'ioctl') this.dx?.ioctlExit(e, t);
    if (!call || call.name !== name || !t.mm) return;
    const a = call.e;
    const mm = t.mm;
    switch (name) {
      case 'mmap':
        if (!failed) do_mmap(m, mm, ret, a.b!, a.c!, a.d!, a.e! | 0, a.f!, `file:${t.tgid}:fd${a.e! | 0}:${this.fileSeq++}`);
        return;
      case 'mremap':
        if (!failed) do_mremap(m, mm, a.a!, a.b!, a.c!, ret);
        return;
      case 'brk':
        if (mm.brk === null) mm.brk = ret;
        else do_brk(m, mm, ret);
        return;
      case 'clone':
      case 'fork':
      case 'vfork':
      case 'clone3':
        if (failed) this.building.delete(t.tid);
        return;
      case 'execve':
      case 'execveat':
        if (failed) this.building.delete(t.tid);
        return;
    }
  }

  /** migrate:set_migration_pte / remove_migration_pte (the raw PTE carries the new PFN). */
  private migrationPte(e: ReplayEvent, set: boolean): void {
    const m = this.m;
    const t = this.task(e);
    const mm = t.mm;
    if (!mm) return;
    const va = e.a! - (e.a! % PAGE_SIZE);
    const p = m.pte(mm, va);
    if (set) {
      if (p?.kind !== 'present' || !p.folio) return;
      // migrate_folio_unmap holds the folio lock from unmapping until the PTEs are restored.
      m.touchFolio(p.folio);
      p.folio.locked = true;
      m.rmap_remove(p.folio, mm, va);
      m.set_pte_at(mm, va, { ...p, kind: 'migration', entryWrite: p.write, write: false });
      return;
    }
    if (p?.kind === 'present' && p.folio && p.folio.order > 0) {
      // remove_migration_pte with no set_migration_pte: split_huge_page remapping the pieces of a
      // THP it split (the PFN stays); the folio is order-0 pieces from here on.
      split_huge_page(m, p.folio);
      return;
    }
    if (p?.kind !== 'migration' || !p.folio) return;
    // remove_migration_pte: the entry becomes a present PTE to the new folio; the old one goes.
    const pfn = BigInt(Math.floor(e.b! / PAGE_SIZE)) & 0xfffffffffn;
    const old = p.folio;
    // migrate_pages_batch unlocks source and destination after remove_migration_ptes: where
    // folio_unlock is traced, each stays locked until its own unlock.
    const held = this.opts.folioUnlockTraced === true;
    old.locked = held;
    if (held) this.migrationLocked.set(old.pfn, old);
    if (old.pfn === pfn) {
      // Migration failed (an extra reference, e.g. a GUP pin): the old page is mapped back.
      m.rmap_add(old, mm, va);
      m.set_pte_at(mm, va, { ...p, kind: 'present', write: p.entryWrite });
      return;
    }
    const nf = m.newFolio({ anon: old.anon, shmem: old.shmem, refcount: 1, anonExclusive: old.anonExclusive });
    m.setPfn(nf, pfn, 'observed');
    nf.locked = held;
    if (held) this.migrationLocked.set(pfn, nf);
    m.rmap_add(nf, mm, va);
    m.set_pte_at(mm, va, { ...p, kind: 'present', folio: nf, write: p.entryWrite, confidence: 'observed' });
    m.folio_put(old);
  }

  private checkpoint(e: ReplayEvent): void {
    const m = this.m;
    const kv = Object.fromEntries([...e.s!.matchAll(/(\w+)=(\S+)/g)].map((x) => [x[1], x[2]]));
    // A marker cut short (the trace's last line) or damaged is not a checkpoint.
    if (!/^\d+$/.test(kv.pid ?? '') || !/^(0x[0-9a-f]+|\d+)$/i.test(kv.start ?? '') || !(kv.pages ?? '').split(',').every((p) => /^(-|P:[0-9a-f]+:[a-z]*|S:[0-9a-f]+:[0-9a-f]+:[a-z]*)$/.test(p))) {
      this.skip(e, 'MMREPLAY_CKPT marker without pid, start or pages (cut short?)');
      return;
    }
    const pid = Number(kv.pid);
    const start = Number(BigInt(kv.start));
    const pages = (kv.pages ?? '').split(',');
    const t = m.tasks.get(Number(kv.tid)) ?? m.tasks.get(pid);
    const mm = t?.mm ?? null;
    const pend = t ? this.pending.get(t.tid) : undefined;
    if (pend) this.finishFault(pend, e);
    for (let i = 0; i < pages.length; i++) {
      const va = start + i * PAGE_SIZE;
      const [kind, x, flags] = pages[i].split(':');
      const kernelState = kind === 'P' ? 'present' : kind === 'S' ? 'swap' : 'none';
      const kernelPfn = kind === 'P' ? parseInt(x, 16) : null;
      const p = mm ? m.pte(mm, va) : undefined;
      const modelState = !p || p.kind === 'none' ? 'none' : p.kind === 'present' ? 'present' : 'swap';
      const modelPfn = p?.kind === 'present' && p.folio?.pfn !== null && p.folio?.pfn !== undefined ? Number(p.folio.pfn) + p.index : null;
      // The PFN is as known as the folio's: a fork's child maps the very page the parent's fault got.
      const confidence = p ? (p.kind === 'present' && p.folio ? (p.folio.zero ? 'inferred' : p.folio.pfnConfidence) : p.confidence) : null;
      this.out.checkpoint({
        eventId: e.id,
        ts: e.ts,
        label: kv.label ?? '',
        pid,
        mm: mm?.id ?? null,
        va,
        kernelState,
        kernelPfn,
        kernelFlags: (kind === 'P' ? flags : kind === 'S' ? (pages[i].split(':')[3] ?? '') : '') ?? '',
        modelState,
        modelPfn,
        confidence,
        presentMatch: kernelState === modelState,
        pfnMatch: kernelPfn !== null && modelPfn !== null && confidence === 'observed' ? kernelPfn === modelPfn : null,
      });
    }
  }

  /** Whether the model's VMAs cover [start, start+len) entirely. */
  private covered(mm: Mm, start: number, len: number): boolean {
    let at = start;
    const end = start + len;
    while (at < end) {
      const v = this.m.find_vma(mm, at);
      if (!v || v.preTrace) return false;
      at = v.end;
    }
    return true;
  }

  /**
   * An mmu notifier the model does not make itself: a UFFDIO_WRITEPROTECT (PROTECTION_VMA inside
   * that ioctl, or anywhere outside a fault when the trace has no syscall events) where no kprobe
   * on uffd_wp_range or change_protection shows the change; its mode is guessed (uffd_wp_guess).
   */
  private invalidateRangeStart(e: ReplayEvent, pf: PendingFault | undefined): void {
    if (e.a === null || e.b === null || e.c !== MMU_NOTIFY.PROTECTION_VMA || this.opts.uffdTraced || pf) return;
    const t = this.task(e);
    const call = this.syscalls.get(e.tid);
    const inUffd = call?.name === 'ioctl' && call.e.b === UFFDIO_WRITEPROTECT;
    if (!t.mm || !(inUffd || (!this.opts.syscallsTraced && !call))) return;
    uffd_wp_range(this.m, t.mm, e.a, e.b, uffd_wp_guess(this.m, t.mm, e.a, e.b));
  }

  /** Ends every fault still waiting for follow-up events (end of trace). */
  flush(): void {
    for (const pf of [...this.pending.values()]) this.finishFault(pf, null);
    this.dx?.flush();
  }
}
