// The lines a 6.12 kernel prints for each event of the simulation: tracepoints and the lab's probe
// set A (traces/lab/6.12-r2/kprobes-A.txt, names mder_*), in the exact text of
// traces/lab/6.12-r2/race-*/A/trace.txt.xz. Kernel pointers are those of a 4-level x86-64 guest
// without KASLR: struct page at 0xffffea0000000000 + 64 * pfn. Each line also carries its event
// (`system:name`) and field values in its format file's field order, for the `.dat` (dat-sink.ts).
import type { Field, LineSink } from './trace-writer.js';

const MM = '0xffff88800014b7c0';
const VMA = '0xffff8880034b35e8';
const ANON_VMA = '0xffff8880007453a8';
const PAGES = '0xffffc90002e87bc8';
/** include/linux/swap.h in the lab build (MAX_SWAPFILES 24, no HWPOISON; 6.12/offsets.txt). */
const SWP_DEVICE_EXCLUSIVE_WRITE = 29n;
const SWP_MIGRATION_WRITE = 26n;
/** SWP_MIG_YOUNG_BIT and SWP_MIG_DIRTY_BIT with 4-level paging (SWP_PFN_BITS = 46 - 12). */
const SWP_MIG_YOUNG_DIRTY = (1n << 34n) | (1n << 35n);
/** _PAGE_SWP_EXCLUSIVE (_PAGE_PWT) of an anonymous swap entry. */
const PAGE_SWP_EXCLUSIVE = 8n;
/** lib/test_hmm_uapi.h HMM_DMIRROR_EXCLUSIVE. */
const HMM_DMIRROR_EXCLUSIVE = 'c0284805';
/** include/uapi/linux/userfaultfd.h UFFDIO_WRITEPROTECT. */
const UFFDIO_WRITEPROTECT = 'c018aa06';
/** include/linux/mmu_notifier.h enum mmu_notifier_event. */
export const NOTIFY = {
  UNMAP: 0,
  CLEAR: 1,
  PROTECTION_VMA: 2,
  PROTECTION_PAGE: 3,
  EXCLUSIVE: 7,
} as const;
/** The ksmd kernel thread (the lab guest's pid). */
export const KSMD_PID = 34;

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
/** The struct page of a PFN (pfn * 64 < 2^40 here, so plain numbers do). */
export const pagePtr = (pfn: number) => `0xffffea${(pfn * 64).toString(16).padStart(10, '0')}`;

/** x86-64 __swp_entry(type, offset) as a PTE. */
function swp(type: bigint, offset: bigint): bigint {
  const off = (~offset & 0xffffffffffffffffn) << 14n;
  return ((off & 0xffffffffffffffffn) >> 5n) | (type << 59n);
}
function swpEntry(pfn: number): string {
  return hex(swp(SWP_DEVICE_EXCLUSIVE_WRITE, BigInt(pfn)));
}
/** A writable migration entry (young and dirty), as set_migration_pte prints it. */
export function migrationEntry(pfn: number): bigint {
  return swp(SWP_MIGRATION_WRITE, BigInt(pfn) | SWP_MIG_YOUNG_DIRTY);
}
/** An exclusive anonymous swap entry of swap type 0 (the lab's one swap device). */
export function swapEntry(slot: number): bigint {
  return swp(0n, BigInt(slot)) | PAGE_SWP_EXCLUSIVE;
}
/** A present PTE as remove_migration_pte prints it (NX, accessed, dirty, user, present, RW). */
const presentPte = (pfn: number, write: boolean) =>
  (1n << 63n) | (BigInt(pfn) << 12n) | (write ? 0x67n : 0x65n);

/** x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl): the `__syscall_nr` field. */
const NR = {
  mmap: 9,
  mprotect: 10,
  ioctl: 16,
  madvise: 28,
  clone: 56,
  exit_group: 231,
  move_pages: 279,
  userfaultfd: 323,
  clone3: 435,
} as const;

/** mm_page_alloc's gfp_flags (6.12 include/linux/gfp_types.h): GFP_HIGHUSER_MOVABLE|__GFP_COMP
 *  (a COW copy), with __GFP_ZERO (a new anonymous page) or __GFP_THISNODE (a migration target). */
const GFP = { copy: 0x140cca, zero: 0x140dca, migrate: 0x340cca } as const;
/** mm_vmscan_write_folio's reclaim_flags: RECLAIM_WB_ANON|RECLAIM_WB_ASYNC. */
const RECLAIM_WB_ANON_ASYNC = 9;
const MIGRATE_SYNC = 2;
const MR_SYSCALL = 3;

const K = (name: string) => `kprobes:mder_${name}`;
/** Every event the generator writes, `system:name`: the `.dat` carries these format files. */
export const SYNTH_EVENTS = [
  'ftrace:print',
  ...[
    'mmap',
    'clone3',
    'ioctl',
    'madvise',
    'userfaultfd',
    'mprotect',
    'clone',
    'move_pages',
  ].flatMap((n) => [`syscalls:sys_enter_${n}`, `syscalls:sys_exit_${n}`]),
  'syscalls:sys_enter_exit_group',
  'task:task_newtask',
  'exceptions:page_fault_user',
  'kmem:mm_page_alloc',
  'kmem:mm_page_free',
  'sched:sched_process_fork',
  'sched:sched_process_exit',
  'sched:sched_process_free',
  'migrate:mm_migrate_pages_start',
  'migrate:set_migration_pte',
  'migrate:remove_migration_pte',
  'migrate:mm_migrate_pages',
  'vmscan:mm_vmscan_write_folio',
  'ksm:ksm_enter',
  'ksm:ksm_start_scan',
  'ksm:ksm_stop_scan',
  'ksm:ksm_merge_with_ksm_page',
  ...[
    'mmu_notifier_invalidate_range_start',
    'unmap_page_range',
    'folio_add_new_anon_rmap',
    'do_swap_page',
    'restore_exclusive_pte',
    'folio_add_anon_rmap_ptes',
    'make_device_exclusive_range',
    'make_device_exclusive_range_ret',
    'get_user_pages_remote',
    'get_user_pages_remote_ret',
    'rmap_walk',
    'folio_lock_anon_vma_read_ret',
    'page_make_device_exclusive_one',
    'page_make_device_exclusive_one_ret',
    'do_wp_page',
    'mwriteprotect_range',
    'uffd_wp_range',
    'folio_unlock',
    'vmalloc',
    'vmalloc_ret',
    'vfree',
    'copy_page_range',
    'migrate_pages',
    'migrate_pages_ret',
    'try_to_migrate',
    'migrate_folio',
    'migrate_folio_ret',
    'remove_migration_ptes',
    'reclaim_pages',
    'reclaim_pages_ret',
    'try_to_unmap',
    'swap_writepage',
    'try_to_merge_one_page',
    'try_to_merge_one_page_ret',
    'write_protect_page',
    'write_protect_page_ret',
  ].map(K),
];

/** One thread's view of the trace: every method writes one line at the scheduler's time. */
export class Lines {
  constructor(
    readonly sink: LineSink,
    readonly clock: () => number,
  ) {}

  /** One event: its text body and its field values, made only when the sink asks (a `.dat`
   *  takes the fields, text the body, a sweep neither). */
  private w(
    tid: number,
    cpu: number,
    event: string,
    fields: () => Field[],
    body: () => string,
    flags?: string,
  ): number {
    return this.sink.line(
      this.clock(),
      tid === KSMD_PID ? 'ksmd' : 'race',
      tid,
      cpu,
      event,
      fields,
      body,
      flags,
    );
  }
  /** kmem:mm_page_free is in the recording's event set (a KSM race: the replay needs it). */
  frees = false;

  marker(
    tid: number,
    cpu: number,
    what: 'RACE_BEGIN' | 'RACE_END',
    mode: string,
    seq: number,
    addr: number,
    npages: number,
  ): number {
    const msg = () =>
      `${what} mode=${mode} seq=${seq} clock_ns=${this.clock()} tid=${tid} addr=${hex(addr)} npages=${npages}`;
    // trace_marker ends the buffer with the newline the kernel adds.
    return this.w(
      tid,
      cpu,
      'ftrace:print',
      () => ['tracing_mark_write', msg() + '\n'],
      () => `tracing_mark_write: ${msg()}`,
    );
  }

  mmapEnter(tid: number, cpu: number, len: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_mmap',
      () => [NR.mmap, 0, len, 3, 0x22, 0xffffffff, 0],
      () => `sys_mmap(addr: 0, len: ${len.toString(16)}, prot: 3, flags: 22, fd: ffffffff, off: 0)`,
    );
  }
  mmapExit(tid: number, cpu: number, addr: number): number {
    return this.sysExit(tid, cpu, 'mmap', addr);
  }
  /** `sys_NAME -> 0x...`: a syscall's return. */
  private sysExit(tid: number, cpu: number, name: keyof typeof NR, ret: number): number {
    return this.w(
      tid,
      cpu,
      `syscalls:sys_exit_${name}`,
      () => [NR[name], ret],
      () => `sys_${name} -> ${hex(BigInt.asUintN(64, BigInt(ret)))}`,
    );
  }
  clone3Enter(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_clone3',
      () => [NR.clone3, '0x7ffd21cee4d0', 0x58],
      () => `sys_clone3(uargs: 7ffd21cee4d0, size: 58)`,
    );
  }
  newTask(tid: number, cpu: number, child: number): number {
    return this.w(
      tid,
      cpu,
      'task:task_newtask',
      () => [child, 'race', 0x3d0f00, 0],
      () => `task_newtask: pid=${child} comm=race clone_flags=3d0f00 oom_score_adj=0`,
    );
  }
  clone3Exit(tid: number, cpu: number, ret: number): number {
    return this.sysExit(tid, cpu, 'clone3', ret);
  }
  ioctlEnter(tid: number, cpu: number, fd: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_ioctl',
      () => [NR.ioctl, fd, `0x${HMM_DMIRROR_EXCLUSIVE}`, '0x7ffd21ced220'],
      () => `sys_ioctl(fd: ${fd}, cmd: ${HMM_DMIRROR_EXCLUSIVE}, arg: 7ffd21ced220)`,
    );
  }
  ioctlExit(tid: number, cpu: number, ret: number): number {
    return this.sysExit(tid, cpu, 'ioctl', ret);
  }
  madviseEnter(tid: number, cpu: number, start: number, len: number, behavior: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_madvise',
      () => [NR.madvise, start, len, behavior],
      () =>
        `sys_madvise(start: ${start.toString(16)}, len_in: ${len.toString(16)}, behavior: ${behavior.toString(16)})`,
    );
  }
  madviseExit(tid: number, cpu: number): number {
    return this.sysExit(tid, cpu, 'madvise', 0);
  }
  notifier(tid: number, cpu: number, start: number, end: number, event: number): number {
    return this.w(
      tid,
      cpu,
      K('mmu_notifier_invalidate_range_start'),
      () => ['0xffffc90002e879c8', MM, start, end, 1, event, 0],
      () =>
        `mder_mmu_notifier_invalidate_range_start: (__mmu_notifier_invalidate_range_start+0x4/0x182) range=0xffffc90002e879c8 mm=${MM} start=${hex(start)} end=${hex(end)} flags=1 event=${event} owner=0x0`,
    );
  }
  unmapPageRange(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
      K('unmap_page_range'),
      () => ['0xffffc90002e7fd30', VMA, start, end, 0],
      () =>
        `mder_unmap_page_range: (unmap_page_range+0x4/0xaa4) tlb=0xffffc90002e7fd30 vma=${VMA} addr=${hex(start)} end=${hex(end)} details=0x0`,
    );
  }
  pageFaultUser(tid: number, cpu: number, addr: number, errorCode: number): number {
    return this.w(
      tid,
      cpu,
      'exceptions:page_fault_user',
      () => [addr, 0x402c70, errorCode],
      () => `page_fault_user: address=${hex(addr)} ip=0x402c70 error_code=${hex(errorCode)}`,
      'd....',
    );
  }
  /** A user page: zeroed (a new anonymous page), a copy (COW), or a migration's target. */
  pageAlloc(
    tid: number,
    cpu: number,
    pfn: number,
    what: 'zero' | 'copy' | 'migrate' = 'zero',
  ): number {
    const gfp = what === 'zero' ? '|__GFP_ZERO' : what === 'migrate' ? '|__GFP_THISNODE' : '';
    return this.w(
      tid,
      cpu,
      'kmem:mm_page_alloc',
      () => [pfn, 0, GFP[what], 1],
      () =>
        `mm_page_alloc: page=${pagePtr(pfn).slice(2)} pfn=${hex(pfn)} order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP${gfp}`,
    );
  }
  pageFree(tid: number, cpu: number, pfn: number): number {
    if (!this.frees) return 0;
    return this.w(
      tid,
      cpu,
      'kmem:mm_page_free',
      () => [pfn, 0],
      () => `mm_page_free: page=${pagePtr(pfn).slice(2)} pfn=${hex(pfn)} order=0`,
    );
  }
  newAnonRmap(tid: number, cpu: number, pfn: number, addr: number): number {
    return this.w(
      tid,
      cpu,
      K('folio_add_new_anon_rmap'),
      () => [pagePtr(pfn), VMA, addr, 1],
      () =>
        `mder_folio_add_new_anon_rmap: (folio_add_new_anon_rmap+0x4/0x121) folio=${pagePtr(pfn)} vma=${VMA} address=${hex(addr)} flags=0x1`,
    );
  }
  /** do_swap_page on a device-exclusive entry (its folio's PFN), or on any other entry (`pte`). */
  doSwapPage(
    tid: number,
    cpu: number,
    addr: number,
    flags: number,
    pfn: number,
    pte?: bigint,
  ): number {
    const orig = () => (pte === undefined ? swpEntry(pfn) : hex(pte));
    return this.w(
      tid,
      cpu,
      K('do_swap_page'),
      () => [VMA, addr, flags, orig()],
      () =>
        `mder_do_swap_page: (do_swap_page+0x4/0xec8) vma=${VMA} address=${hex(addr)} flags=${hex(flags)} orig_pte=${orig()}`,
    );
  }
  restoreExclusivePte(tid: number, cpu: number, addr: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      K('restore_exclusive_pte'),
      () => [VMA, pagePtr(pfn), addr, '0xffff8880034be138', swpEntry(pfn)],
      () =>
        `mder_restore_exclusive_pte: (restore_exclusive_pte+0x0/0xc4) vma=${VMA} page=${pagePtr(pfn)} address=${hex(addr)} ptep=0xffff8880034be138 pte=${swpEntry(pfn)}`,
    );
  }
  anonRmapPtes(
    tid: number,
    cpu: number,
    pfn: number,
    addr: number,
    flags = 0,
    mapcount = -1,
  ): number {
    return this.w(
      tid,
      cpu,
      K('folio_add_anon_rmap_ptes'),
      () => [pagePtr(pfn), pagePtr(pfn), 1, VMA, addr, flags, mapcount],
      () =>
        `mder_folio_add_anon_rmap_ptes: (folio_add_anon_rmap_ptes+0x4/0xb8) folio=${pagePtr(pfn)} page=${pagePtr(pfn)} nr_pages=1 vma=${VMA} address=${hex(addr)} flags=${hex(flags)} mapcount=${mapcount}`,
    );
  }
  callEnter(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
      K('make_device_exclusive_range'),
      () => [MM, start, end, PAGES, 0],
      () =>
        `mder_make_device_exclusive_range: (make_device_exclusive_range+0x4/0x127) mm=${MM} start=${hex(start)} end=${hex(end)} pages=${PAGES} owner=0x0`,
    );
  }
  callReturn(
    tid: number,
    cpu: number,
    ret: number,
    start: number,
    pages: (number | null)[],
  ): number {
    const slots = () =>
      Array.from({ length: 64 }, (_, i) => (pages[i] != null ? pagePtr(pages[i]!) : '0x0'));
    return this.w(
      tid,
      cpu,
      K('make_device_exclusive_range_ret'),
      () => [ret, start, slots()],
      () =>
        `mder_make_device_exclusive_range_ret: ([unknown/kretprobe'd] <- make_device_exclusive_range) ret=${ret} start=${hex(start)} pages={${slots().join(',')}}`,
    );
  }
  gupEnter(tid: number, cpu: number, start: number, n: number): number {
    return this.w(
      tid,
      cpu,
      K('get_user_pages_remote'),
      () => [MM, start, n, 0x203, PAGES, 0],
      () =>
        `mder_get_user_pages_remote: (get_user_pages_remote+0x4/0x2e6) mm=${MM} start=${hex(start)} nr_pages=${n} gup_flags=0x203 pages=${PAGES} locked=0x0`,
    );
  }
  gupReturn(tid: number, cpu: number, ret: number, start: number, n: number): number {
    return this.w(
      tid,
      cpu,
      K('get_user_pages_remote_ret'),
      () => [ret, MM, start, n],
      () =>
        `mder_get_user_pages_remote_ret: ([unknown/kretprobe'd] <- get_user_pages_remote) ret=${ret} mm=${MM} start=${hex(start)} nr_pages=${n}`,
    );
  }
  rmapWalk(
    tid: number,
    cpu: number,
    pfn: number,
    mapped: boolean,
    rmapOne = 'page_make_device_exclusive_one+0x0/0x1eb',
    refcount = 2,
  ): number {
    return this.w(
      tid,
      cpu,
      K('rmap_walk'),
      () => [pagePtr(pfn), '0xffffc90002e87ae8', rmapOne, mapped ? 0 : -1, refcount],
      () =>
        `mder_rmap_walk: (rmap_walk+0x4/0x2e) folio=${pagePtr(pfn)} rwc=0xffffc90002e87ae8 rmap_one=${rmapOne} mapcount=${mapped ? 0 : -1} refcount=${refcount}`,
    );
  }
  lockAnonVmaReturn(tid: number, cpu: number, pfn: number, mapped: boolean): number {
    return this.w(
      tid,
      cpu,
      K('folio_lock_anon_vma_read_ret'),
      () => [mapped ? ANON_VMA : 0, pagePtr(pfn), mapped ? 0 : -1],
      () =>
        `mder_folio_lock_anon_vma_read_ret: ([unknown/kretprobe'd] <- folio_lock_anon_vma_read) ret=${mapped ? ANON_VMA : '0x0'} folio=${pagePtr(pfn)} mapcount=${mapped ? 0 : -1}`,
    );
  }
  exclusiveOne(tid: number, cpu: number, pfn: number, addr: number): number {
    return this.w(
      tid,
      cpu,
      K('page_make_device_exclusive_one'),
      () => [pagePtr(pfn), VMA, addr, MM, MM, addr, 0, 0, 0, 2],
      () =>
        `mder_page_make_device_exclusive_one: (page_make_device_exclusive_one+0x4/0x1eb) folio=${pagePtr(pfn)} vma=${VMA} address=${hex(addr)} vma_mm=${MM} args_mm=${MM} args_address=${hex(addr)} args_owner=0x0 valid=0 mapcount=0 refcount=2`,
    );
  }
  exclusiveOneReturn(tid: number, cpu: number, pfn: number, addr: number, valid: boolean): number {
    return this.w(
      tid,
      cpu,
      K('page_make_device_exclusive_one_ret'),
      () => [1, pagePtr(pfn), addr, valid ? 1 : 0, -1, 2],
      () =>
        `mder_page_make_device_exclusive_one_ret: ([unknown/kretprobe'd] <- page_make_device_exclusive_one) ret=1 folio=${pagePtr(pfn)} address=${hex(addr)} valid=${valid ? 1 : 0} mapcount=-1 refcount=2`,
    );
  }
  doWpPage(tid: number, cpu: number, addr: number, flags: number): number {
    return this.w(
      tid,
      cpu,
      K('do_wp_page'),
      () => [VMA, addr, flags, '0x8000000000000025'],
      () =>
        `mder_do_wp_page: (do_wp_page+0x0/0x766) vma=${VMA} address=${hex(addr)} flags=${hex(flags)} orig_pte=0x8000000000000025`,
    );
  }
  uffdIoctlEnter(tid: number, cpu: number): number {
    return this.ioctl(tid, cpu, 7, UFFDIO_WRITEPROTECT, '7f9431fff200');
  }
  /** An ioctl's entry (`cmd` and `arg` in hex, as the text prints them). */
  private ioctl(tid: number, cpu: number, fd: number, cmd: string, arg: string): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_ioctl',
      () => [NR.ioctl, fd, `0x${cmd}`, `0x${arg}`],
      () => `sys_ioctl(fd: ${fd}, cmd: ${cmd}, arg: ${arg})`,
    );
  }
  mwriteprotectRange(
    tid: number,
    cpu: number,
    start: number,
    len: number,
    enable: boolean,
  ): number {
    return this.w(
      tid,
      cpu,
      K('mwriteprotect_range'),
      () => ['0xffff88804327d000', start, len, enable ? 1 : 0],
      () =>
        `mder_mwriteprotect_range: (mwriteprotect_range+0x4/0x104) ctx=0xffff88804327d000 start=${hex(start)} len=${len} enable_wp=${enable ? 1 : 0}`,
    );
  }
  uffdWpRange(tid: number, cpu: number, start: number, len: number, enable: boolean): number {
    return this.w(
      tid,
      cpu,
      K('uffd_wp_range'),
      () => [VMA, start, len, enable ? 1 : 0],
      () =>
        `mder_uffd_wp_range: (uffd_wp_range+0x4/0xa2) vma=${VMA} start=${hex(start)} len=${len} enable_wp=${enable ? 1 : 0}`,
    );
  }
  ioctlReturn(tid: number, cpu: number, ret: number): number {
    return this.sysExit(tid, cpu, 'ioctl', ret);
  }
  userfaultfd(tid: number, cpu: number): number {
    this.w(
      tid,
      cpu,
      'syscalls:sys_enter_userfaultfd',
      () => [NR.userfaultfd, 0x80800],
      () => `sys_userfaultfd(flags: 80800)`,
    );
    return this.sysExit(tid, cpu, 'userfaultfd', 7);
  }
  uffdRegister(tid: number, cpu: number): number {
    this.ioctl(tid, cpu, 7, 'c018aa3f', '7ffe538640d0');
    this.sysExit(tid, cpu, 'ioctl', 0);
    this.ioctl(tid, cpu, 7, 'c020aa00', '7ffe538640f0');
    return this.sysExit(tid, cpu, 'ioctl', 0);
  }
  mprotectEnter(tid: number, cpu: number, start: number, len: number, prot: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_mprotect',
      () => [NR.mprotect, start, len, prot],
      () => `sys_mprotect(start: ${start.toString(16)}, len: ${len.toString(16)}, prot: ${prot})`,
    );
  }
  mprotectExit(tid: number, cpu: number): number {
    return this.sysExit(tid, cpu, 'mprotect', 0);
  }
  folioUnlock(tid: number, cpu: number, pfn: number, flags = '0x2083d'): number {
    return this.w(
      tid,
      cpu,
      K('folio_unlock'),
      () => [pagePtr(pfn), flags],
      () => `mder_folio_unlock: (folio_unlock+0x4/0x17) folio=${pagePtr(pfn)} flags=${flags}`,
    );
  }
  vmalloc(tid: number, cpu: number, size: number): number {
    return this.w(
      tid,
      cpu,
      K('vmalloc'),
      () => [size],
      () => `mder_vmalloc: (vmalloc_noprof+0x4/0x1f) size=${size}`,
    );
  }
  vmallocReturn(tid: number, cpu: number, size: number): number {
    return this.w(
      tid,
      cpu,
      K('vmalloc_ret'),
      () => ['0xffffc90004bd5000', size],
      () =>
        `mder_vmalloc_ret: ([unknown/kretprobe'd] <- vmalloc_noprof) ret=0xffffc90004bd5000 size=${size}`,
    );
  }
  vfree(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      K('vfree'),
      () => ['0xffffc90004bd5000'],
      () => `mder_vfree: (vfree+0x4/0x14a) ptr=0xffffc90004bd5000`,
    );
  }

  // --- fork (race.c fork_exit / fork_write) -----------------------------------------------------

  cloneEnter(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_clone',
      () => [NR.clone, 0x1200011, 0, 0, '0x7f9431fff990', 0],
      () =>
        `sys_clone(clone_flags: 1200011, newsp: 0, parent_tidptr: 0, child_tidptr: 7f9431fff990, tls: 0)`,
    );
  }
  cloneExit(tid: number, cpu: number, ret: number): number {
    return this.sysExit(tid, cpu, 'clone', ret);
  }
  forkTask(tid: number, cpu: number, child: number): number {
    return this.w(
      tid,
      cpu,
      'task:task_newtask',
      () => [child, 'race', 0x1200000, 0],
      () => `task_newtask: pid=${child} comm=race clone_flags=1200000 oom_score_adj=0`,
    );
  }
  schedFork(tid: number, cpu: number, child: number): number {
    return this.w(
      tid,
      cpu,
      'sched:sched_process_fork',
      () => ['race', tid, 'race', child],
      () => `sched_process_fork: comm=race pid=${tid} child_comm=race child_pid=${child}`,
    );
  }
  copyPageRange(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
      K('copy_page_range'),
      () => ['0xffff88800a48a000', VMA, start, end],
      () =>
        `mder_copy_page_range: (copy_page_range+0x4/0xec3) dst_vma=0xffff88800a48a000 src_vma=${VMA} src_start=${hex(start)} src_end=${hex(end)}`,
    );
  }
  exitGroup(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_exit_group',
      () => [NR.exit_group, 0],
      () => `sys_exit_group(error_code: 0)`,
    );
  }
  processExit(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'sched:sched_process_exit',
      () => ['race', tid, 120],
      () => `sched_process_exit: comm=race pid=${tid} prio=120`,
    );
  }
  processFree(tid: number, cpu: number, pid: number): number {
    return this.w(
      tid,
      cpu,
      'sched:sched_process_free',
      () => ['race', pid, 120],
      () => `sched_process_free: comm=race pid=${pid} prio=120`,
      '..s..',
    );
  }
  childUnmap(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
      K('unmap_page_range'),
      () => ['0xffffc90002f8fd30', '0xffff88800a48a000', start, end, 0],
      () =>
        `mder_unmap_page_range: (unmap_page_range+0x4/0xaa4) tlb=0xffffc90002f8fd30 vma=0xffff88800a48a000 addr=${hex(start)} end=${hex(end)} details=0x0`,
    );
  }

  // --- migration (race.c migrate: move_pages(2)) ------------------------------------------------

  movePagesEnter(tid: number, cpu: number, n: number, move: boolean): number {
    return this.w(
      tid,
      cpu,
      'syscalls:sys_enter_move_pages',
      () => [
        NR.move_pages,
        0,
        n,
        '0x7f9431fff040',
        move ? '0x7f9431fff010' : 0,
        '0x7f9431fff020',
        move ? 2 : 0,
      ],
      () =>
        `sys_move_pages(pid: 0, nr_pages: ${n}, pages: 7f9431fff040, nodes: ${move ? '7f9431fff010' : '0'}, status: 7f9431fff020, flags: ${move ? 2 : 0})`,
    );
  }
  movePagesExit(tid: number, cpu: number, ret: number): number {
    return this.sysExit(tid, cpu, 'move_pages', ret);
  }
  migratePages(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      K('migrate_pages'),
      () => ['0xffffc900013ffed0', MIGRATE_SYNC, MR_SYSCALL],
      () => `mder_migrate_pages: (migrate_pages+0x4/0x348) from=0xffffc900013ffed0 mode=2 reason=3`,
    );
  }
  migratePagesStart(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'migrate:mm_migrate_pages_start',
      () => [MIGRATE_SYNC, MR_SYSCALL],
      () => `mm_migrate_pages_start: mode=MIGRATE_SYNC reason=syscall_or_cpuset`,
    );
  }
  tryToMigrate(tid: number, cpu: number, pfn: number, refcount: number): number {
    return this.w(
      tid,
      cpu,
      K('try_to_migrate'),
      () => [pagePtr(pfn), 0x40, 0, refcount],
      () =>
        `mder_try_to_migrate: (try_to_migrate+0x4/0xac) folio=${pagePtr(pfn)} flags=0x40 mapcount=0 refcount=${refcount}`,
    );
  }
  setMigrationPte(tid: number, cpu: number, addr: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      'migrate:set_migration_pte',
      () => [addr, migrationEntry(pfn), 0],
      () =>
        `set_migration_pte: addr=${addr.toString(16)}, pte=${migrationEntry(pfn).toString(16)} order=0`,
    );
  }
  migrateFolio(
    tid: number,
    cpu: number,
    dst: number,
    src: number,
    mode: number,
    refcount: number,
  ): number {
    return this.w(
      tid,
      cpu,
      K('migrate_folio'),
      () => [0, pagePtr(dst), pagePtr(src), mode, refcount],
      () =>
        `mder_migrate_folio: (migrate_folio+0x4/0x19) mapping=0x0 dst=${pagePtr(dst)} src=${pagePtr(src)} mode=${mode} src_refcount=${refcount}`,
    );
  }
  migrateFolioReturn(tid: number, cpu: number, ret: number, dst: number, src: number): number {
    return this.w(
      tid,
      cpu,
      K('migrate_folio_ret'),
      () => [ret, pagePtr(dst), pagePtr(src)],
      () =>
        `mder_migrate_folio_ret: (migrate_pages_batch+0x761/0x961 <- migrate_folio) ret=${ret} dst=${pagePtr(dst)} src=${pagePtr(src)}`,
    );
  }
  removeMigrationPtes(tid: number, cpu: number, src: number, dst: number): number {
    return this.w(
      tid,
      cpu,
      K('remove_migration_ptes'),
      () => [pagePtr(src), pagePtr(dst), 0],
      () =>
        `mder_remove_migration_ptes: (remove_migration_ptes+0x4/0x63) src=${pagePtr(src)} dst=${pagePtr(dst)} flags=0x0`,
    );
  }
  removeMigrationPte(tid: number, cpu: number, addr: number, pfn: number, write: boolean): number {
    return this.w(
      tid,
      cpu,
      'migrate:remove_migration_pte',
      () => [addr, presentPte(pfn, write), 0],
      () =>
        `remove_migration_pte: addr=${addr.toString(16)}, pte=${presentPte(pfn, write).toString(16)} order=0`,
    );
  }
  migratePagesEnd(tid: number, cpu: number, succeeded: number, failed: number): number {
    return this.w(
      tid,
      cpu,
      'migrate:mm_migrate_pages',
      () => [succeeded, failed, 0, 0, 0, 0, MIGRATE_SYNC, MR_SYSCALL],
      () =>
        `mm_migrate_pages: nr_succeeded=${succeeded} nr_failed=${failed} nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 nr_split=0 mode=MIGRATE_SYNC reason=syscall_or_cpuset`,
    );
  }
  migratePagesReturn(tid: number, cpu: number, ret: number): number {
    return this.w(
      tid,
      cpu,
      K('migrate_pages_ret'),
      () => [ret, MR_SYSCALL],
      () => `mder_migrate_pages_ret: ([unknown/kretprobe'd] <- migrate_pages) ret=${ret} reason=3`,
    );
  }

  // --- reclaim (race.c pageout: MADV_PAGEOUT) ---------------------------------------------------

  reclaimPages(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      K('reclaim_pages'),
      () => ['0xffffc9000296fc50'],
      () => `mder_reclaim_pages: (reclaim_pages+0x4/0xca) folio_list=0xffffc9000296fc50`,
    );
  }
  reclaimPagesReturn(tid: number, cpu: number, ret: number): number {
    return this.w(
      tid,
      cpu,
      K('reclaim_pages_ret'),
      () => [ret],
      () => `mder_reclaim_pages_ret: ([unknown/kretprobe'd] <- reclaim_pages) ret=${ret}`,
    );
  }
  tryToUnmap(tid: number, cpu: number, pfn: number, refcount: number): number {
    return this.w(
      tid,
      cpu,
      K('try_to_unmap'),
      () => [pagePtr(pfn), 0x40, 0, refcount],
      () =>
        `mder_try_to_unmap: (try_to_unmap+0x4/0x5c) folio=${pagePtr(pfn)} flags=0x40 mapcount=0 refcount=${refcount}`,
    );
  }
  lockAnonVma(tid: number, cpu: number, pfn: number): number {
    return this.lockAnonVmaReturn(tid, cpu, pfn, true);
  }
  swapWritepage(tid: number, cpu: number, pfn: number, refcount: number): number {
    return this.w(
      tid,
      cpu,
      K('swap_writepage'),
      () => [pagePtr(pfn), '0x400000000030409', refcount],
      () =>
        `mder_swap_writepage: (swap_writepage+0x4/0x145) page=${pagePtr(pfn)} flags=0x400000000030409 refcount=${refcount}`,
    );
  }
  vmscanWriteFolio(tid: number, cpu: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      'vmscan:mm_vmscan_write_folio',
      () => [pfn, RECLAIM_WB_ANON_ASYNC],
      () =>
        `mm_vmscan_write_folio: page=${pagePtr(pfn).slice(2)} pfn=${hex(pfn)} flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC`,
    );
  }

  // --- KSM (race.c ksm: ksmd merging the region's identical pages) -----------------------------

  ksmEnter(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      'ksm:ksm_enter',
      () => [MM],
      () => `ksm_enter: mm ${MM.slice(2)}`,
    );
  }
  ksmScan(tid: number, cpu: number, start: boolean, seq: number, size: number): number {
    return this.w(
      tid,
      cpu,
      `ksm:ksm_${start ? 'start' : 'stop'}_scan`,
      () => [seq, size],
      () => `ksm_${start ? 'start' : 'stop'}_scan: seq ${seq} rmap size ${size}`,
    );
  }
  tryToMerge(tid: number, cpu: number, pfn: number, kpfn: number | null, refcount: number): number {
    const kpage = () => (kpfn === null ? '0x0' : pagePtr(kpfn));
    return this.w(
      tid,
      cpu,
      K('try_to_merge_one_page'),
      () => [VMA, pagePtr(pfn), kpage(), 0, refcount],
      () =>
        `mder_try_to_merge_one_page: (try_to_merge_one_page+0x0/0x379) vma=${VMA} page=${pagePtr(pfn)} kpage=${kpage()} mapcount=0 refcount=${refcount}`,
    );
  }
  tryToMergeReturn(
    tid: number,
    cpu: number,
    ret: number,
    pfn: number,
    kpfn: number | null,
  ): number {
    const kpage = () => (kpfn === null ? '0x0' : pagePtr(kpfn));
    return this.w(
      tid,
      cpu,
      K('try_to_merge_one_page_ret'),
      () => [ret, pagePtr(pfn), kpage()],
      () =>
        `mder_try_to_merge_one_page_ret: ([unknown/kretprobe'd] <- try_to_merge_one_page) ret=${ret} page=${pagePtr(pfn)} kpage=${kpage()}`,
    );
  }
  writeProtectPage(tid: number, cpu: number, pfn: number, refcount: number): number {
    return this.w(
      tid,
      cpu,
      K('write_protect_page'),
      () => [VMA, pagePtr(pfn), 0, refcount],
      () =>
        `mder_write_protect_page: (write_protect_page+0x0/0x281) vma=${VMA} folio=${pagePtr(pfn)} mapcount=0 refcount=${refcount}`,
    );
  }
  writeProtectPageReturn(tid: number, cpu: number, ret: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      K('write_protect_page_ret'),
      () => [ret, pagePtr(pfn)],
      () =>
        `mder_write_protect_page_ret: (try_to_merge_one_page+0xa7/0x379 <- write_protect_page) ret=${ret} folio=${pagePtr(pfn)}`,
    );
  }
  /** `ksm`: merged into the KSM page (the event's ksm_page, its struct page, is set). */
  ksmMerge(tid: number, cpu: number, pfn: number, ksm: boolean, err: number): number {
    return this.w(
      tid,
      cpu,
      'ksm:ksm_merge_with_ksm_page',
      () => [ksm ? pagePtr(pfn) : 0, pfn, '0xffff88800998fa00', MM, err],
      () =>
        `ksm_merge_with_ksm_page: ${ksm ? 'ksm ' : ''}pfn ${pfn} rmap_item ffff88800998fa00 mm ${MM.slice(2)} error ${err}`,
    );
  }
}
