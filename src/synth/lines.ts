// The lines a 6.12 kernel prints for each event of the simulation: tracepoints and the lab's probe
// set A (traces/lab/6.12-r2/kprobes-A.txt, names mder_*), in the exact text of
// traces/lab/6.12-r2/race-*/A/trace.txt.xz. Kernel pointers are those of a 4-level x86-64 guest
// without KASLR: struct page at 0xffffea0000000000 + 64 * pfn.
import type { LineSink } from './trace-writer.js';

const MM = '0xffff88800014b7c0';
const VMA = '0xffff8880034b35e8';
const ANON_VMA = '0xffff8880007453a8';
const PAGES = '0xffffc90002e87bc8';
/** arch/x86/include/asm/pgtable_64.h __swp_entry, with SWP_DEVICE_EXCLUSIVE_WRITE = 29 (6.12/offsets.txt). */
const SWP_DEVICE_EXCLUSIVE_WRITE = 29n;
/** lib/test_hmm_uapi.h HMM_DMIRROR_EXCLUSIVE. */
const HMM_DMIRROR_EXCLUSIVE = 'c0284805';
/** include/uapi/linux/userfaultfd.h UFFDIO_WRITEPROTECT. */
const UFFDIO_WRITEPROTECT = 'c018aa06';
/** include/linux/mmu_notifier.h enum mmu_notifier_event. */
export const NOTIFY = { UNMAP: 0, CLEAR: 1, PROTECTION_VMA: 2, EXCLUSIVE: 7 } as const;

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
/** The struct page of a PFN (pfn * 64 < 2^40 here, so plain numbers do). */
export const pagePtr = (pfn: number) => `0xffffea${(pfn * 64).toString(16).padStart(10, '0')}`;

function swpEntry(pfn: number): string {
  const off = (~BigInt(pfn) & 0xffffffffffffffffn) << 14n;
  return hex(((off & 0xffffffffffffffffn) >> 5n) | (SWP_DEVICE_EXCLUSIVE_WRITE << 59n));
}

/** One thread's view of the trace: every method writes one line at the scheduler's time. */
export class Lines {
  /** Whether lines are formatted at all (a sweep counts them only). */
  readonly text: boolean;

  constructor(
    readonly sink: LineSink,
    readonly clock: () => number,
    text: boolean,
  ) {
    this.text = text;
  }

  private w(tid: number, cpu: number, body: () => string, flags?: string): number {
    return this.sink.line(this.clock(), 'race', tid, cpu, this.text ? body() : '', flags);
  }

  marker(
    tid: number,
    cpu: number,
    what: 'RACE_BEGIN' | 'RACE_END',
    mode: string,
    seq: number,
    addr: number,
    npages: number,
  ): number {
    return this.w(
      tid,
      cpu,
      () =>
        `tracing_mark_write: ${what} mode=${mode} seq=${seq} clock_ns=${this.clock()} tid=${tid} addr=${hex(addr)} npages=${npages}`,
    );
  }

  mmapEnter(tid: number, cpu: number, len: number): number {
    return this.w(
      tid,
      cpu,
      () => `sys_mmap(addr: 0, len: ${len.toString(16)}, prot: 3, flags: 22, fd: ffffffff, off: 0)`,
    );
  }
  mmapExit(tid: number, cpu: number, addr: number): number {
    return this.w(tid, cpu, () => `sys_mmap -> ${hex(addr)}`);
  }
  clone3Enter(tid: number, cpu: number): number {
    return this.w(tid, cpu, () => `sys_clone3(uargs: 7ffd21cee4d0, size: 58)`);
  }
  newTask(tid: number, cpu: number, child: number): number {
    return this.w(
      tid,
      cpu,
      () => `task_newtask: pid=${child} comm=race clone_flags=3d0f00 oom_score_adj=0`,
    );
  }
  clone3Exit(tid: number, cpu: number, ret: number): number {
    return this.w(tid, cpu, () => `sys_clone3 -> ${hex(ret)}`);
  }
  ioctlEnter(tid: number, cpu: number, fd: number): number {
    return this.w(
      tid,
      cpu,
      () => `sys_ioctl(fd: ${fd}, cmd: ${HMM_DMIRROR_EXCLUSIVE}, arg: 7ffd21ced220)`,
    );
  }
  ioctlExit(tid: number, cpu: number, ret: number): number {
    return this.w(tid, cpu, () => `sys_ioctl -> ${hex(BigInt.asUintN(64, BigInt(ret)))}`);
  }
  madviseEnter(tid: number, cpu: number, start: number, len: number, behavior: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `sys_madvise(start: ${start.toString(16)}, len_in: ${len.toString(16)}, behavior: ${behavior})`,
    );
  }
  madviseExit(tid: number, cpu: number): number {
    return this.w(tid, cpu, () => `sys_madvise -> 0x0`);
  }
  notifier(tid: number, cpu: number, start: number, end: number, event: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_mmu_notifier_invalidate_range_start: (__mmu_notifier_invalidate_range_start+0x4/0x182) range=0xffffc90002e879c8 mm=${MM} start=${hex(start)} end=${hex(end)} flags=1 event=${event} owner=0x0`,
    );
  }
  unmapPageRange(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_unmap_page_range: (unmap_page_range+0x4/0xaa4) tlb=0xffffc90002e7fd30 vma=${VMA} addr=${hex(start)} end=${hex(end)} details=0x0`,
    );
  }
  pageFaultUser(tid: number, cpu: number, addr: number, errorCode: number): number {
    return this.w(
      tid,
      cpu,
      () => `page_fault_user: address=${hex(addr)} ip=0x402c70 error_code=${hex(errorCode)}`,
      'd....',
    );
  }
  pageAlloc(tid: number, cpu: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mm_page_alloc: page=${pagePtr(pfn).slice(2)} pfn=${hex(pfn)} order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO`,
    );
  }
  newAnonRmap(tid: number, cpu: number, pfn: number, addr: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_folio_add_new_anon_rmap: (folio_add_new_anon_rmap+0x4/0x121) folio=${pagePtr(pfn)} vma=${VMA} address=${hex(addr)} flags=0x1`,
    );
  }
  doSwapPage(tid: number, cpu: number, addr: number, flags: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_do_swap_page: (do_swap_page+0x4/0xec8) vma=${VMA} address=${hex(addr)} flags=${hex(flags)} orig_pte=${swpEntry(pfn)}`,
    );
  }
  restoreExclusivePte(tid: number, cpu: number, addr: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_restore_exclusive_pte: (restore_exclusive_pte+0x0/0xc4) vma=${VMA} page=${pagePtr(pfn)} address=${hex(addr)} ptep=0xffff8880034be138 pte=${swpEntry(pfn)}`,
    );
  }
  anonRmapPtes(tid: number, cpu: number, pfn: number, addr: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_folio_add_anon_rmap_ptes: (folio_add_anon_rmap_ptes+0x4/0xb8) folio=${pagePtr(pfn)} page=${pagePtr(pfn)} nr_pages=1 vma=${VMA} address=${hex(addr)} flags=0x0 mapcount=-1`,
    );
  }
  callEnter(tid: number, cpu: number, start: number, end: number): number {
    return this.w(
      tid,
      cpu,
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
    return this.w(tid, cpu, () => {
      const slots = Array.from({ length: 64 }, (_, i) =>
        pages[i] != null ? pagePtr(pages[i]!) : '0x0',
      );
      return `mder_make_device_exclusive_range_ret: ([unknown/kretprobe'd] <- make_device_exclusive_range) ret=${ret} start=${hex(start)} pages={${slots.join(',')}}`;
    });
  }
  gupEnter(tid: number, cpu: number, start: number, n: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_get_user_pages_remote: (get_user_pages_remote+0x4/0x2e6) mm=${MM} start=${hex(start)} nr_pages=${n} gup_flags=0x203 pages=${PAGES} locked=0x0`,
    );
  }
  gupReturn(tid: number, cpu: number, ret: number, start: number, n: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_get_user_pages_remote_ret: ([unknown/kretprobe'd] <- get_user_pages_remote) ret=${ret} mm=${MM} start=${hex(start)} nr_pages=${n}`,
    );
  }
  rmapWalk(tid: number, cpu: number, pfn: number, mapped: boolean): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_rmap_walk: (rmap_walk+0x4/0x2e) folio=${pagePtr(pfn)} rwc=0xffffc90002e87ae8 rmap_one=page_make_device_exclusive_one+0x0/0x1eb mapcount=${mapped ? 0 : -1} refcount=2`,
    );
  }
  lockAnonVmaReturn(tid: number, cpu: number, pfn: number, mapped: boolean): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_folio_lock_anon_vma_read_ret: ([unknown/kretprobe'd] <- folio_lock_anon_vma_read) ret=${mapped ? ANON_VMA : '0x0'} folio=${pagePtr(pfn)} mapcount=${mapped ? 0 : -1}`,
    );
  }
  exclusiveOne(tid: number, cpu: number, pfn: number, addr: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_page_make_device_exclusive_one: (page_make_device_exclusive_one+0x4/0x1eb) folio=${pagePtr(pfn)} vma=${VMA} address=${hex(addr)} vma_mm=${MM} args_mm=${MM} args_address=${hex(addr)} args_owner=0x0 valid=0 mapcount=0 refcount=2`,
    );
  }
  exclusiveOneReturn(tid: number, cpu: number, pfn: number, addr: number, valid: boolean): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_page_make_device_exclusive_one_ret: ([unknown/kretprobe'd] <- page_make_device_exclusive_one) ret=1 folio=${pagePtr(pfn)} address=${hex(addr)} valid=${valid ? 1 : 0} mapcount=-1 refcount=2`,
    );
  }
  doWpPage(tid: number, cpu: number, addr: number, flags: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_do_wp_page: (do_wp_page+0x0/0x766) vma=${VMA} address=${hex(addr)} flags=${hex(flags)} orig_pte=0x8000000000000025`,
    );
  }
  uffdIoctlEnter(tid: number, cpu: number): number {
    return this.w(
      tid,
      cpu,
      () => `sys_ioctl(fd: 7, cmd: ${UFFDIO_WRITEPROTECT}, arg: 7f9431fff200)`,
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
      () =>
        `mder_mwriteprotect_range: (mwriteprotect_range+0x4/0x104) ctx=0xffff88804327d000 start=${hex(start)} len=${len} enable_wp=${enable ? 1 : 0}`,
    );
  }
  uffdWpRange(tid: number, cpu: number, start: number, len: number, enable: boolean): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_uffd_wp_range: (uffd_wp_range+0x4/0xa2) vma=${VMA} start=${hex(start)} len=${len} enable_wp=${enable ? 1 : 0}`,
    );
  }
  ioctlReturn(tid: number, cpu: number, ret: number): number {
    return this.w(tid, cpu, () => `sys_ioctl -> ${hex(BigInt.asUintN(64, BigInt(ret)))}`);
  }
  userfaultfd(tid: number, cpu: number): number {
    this.w(tid, cpu, () => `sys_userfaultfd(flags: 80800)`);
    return this.w(tid, cpu, () => `sys_userfaultfd -> 0x7`);
  }
  uffdRegister(tid: number, cpu: number): number {
    this.w(tid, cpu, () => `sys_ioctl(fd: 7, cmd: c018aa3f, arg: 7ffe538640d0)`);
    this.w(tid, cpu, () => `sys_ioctl -> 0x0`);
    this.w(tid, cpu, () => `sys_ioctl(fd: 7, cmd: c020aa00, arg: 7ffe538640f0)`);
    return this.w(tid, cpu, () => `sys_ioctl -> 0x0`);
  }
  mprotectEnter(tid: number, cpu: number, start: number, len: number, prot: number): number {
    return this.w(
      tid,
      cpu,
      () => `sys_mprotect(start: ${start.toString(16)}, len: ${len.toString(16)}, prot: ${prot})`,
    );
  }
  mprotectExit(tid: number, cpu: number): number {
    return this.w(tid, cpu, () => `sys_mprotect -> 0x0`);
  }
  folioUnlock(tid: number, cpu: number, pfn: number): number {
    return this.w(
      tid,
      cpu,
      () => `mder_folio_unlock: (folio_unlock+0x4/0x17) folio=${pagePtr(pfn)} flags=0x2083d`,
    );
  }
  vmalloc(tid: number, cpu: number, size: number): number {
    return this.w(tid, cpu, () => `mder_vmalloc: (vmalloc_noprof+0x4/0x1f) size=${size}`);
  }
  vmallocReturn(tid: number, cpu: number, size: number): number {
    return this.w(
      tid,
      cpu,
      () =>
        `mder_vmalloc_ret: ([unknown/kretprobe'd] <- vmalloc_noprof) ret=0xffffc90004bd5000 size=${size}`,
    );
  }
  vfree(tid: number, cpu: number): number {
    return this.w(tid, cpu, () => `mder_vfree: (vfree+0x4/0x14a) ptr=0xffffc90004bd5000`);
  }
}
