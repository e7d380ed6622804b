// The kernel functions and structures the model reads, per kernel version, from their source:
// each function's parameters in C order, the struct members by offset, and the roles (what the
// model reads from each probed call). Probe binding (probes.ts) and recipes (probe_recipes.ts) read it.
import type { KernelVersion } from './kernel.js';

/** x86-64 argument registers in order (arch/x86/include/asm/ptrace.h regs_get_kernel_argument). */
export const ARG_REGS = ['di', 'si', 'dx', 'cx', 'r8', 'r9'];

/** The members the model reads, by offset; checked on the lab builds by traces/lab/offsets.c. */
export const STRUCTS: Record<string, (k: KernelVersion) => Record<number, string>> = {
  // include/linux/mm.h struct vm_fault: the same layout in 6.1 and 6.12.
  vm_fault: () => ({ 0: 'vma', 24: 'address', 32: 'real_address', 40: 'flags', 64: 'orig_pte' }),
  // include/linux/mm_types.h struct vm_area_struct.
  vm_area_struct: () => ({ 0: 'vm_start', 8: 'vm_end', 16: 'vm_mm' }),
  // include/linux/mmu_notifier.h: 6.1 still leads with the vma (removed in 6.3).
  mmu_notifier_range: (k): Record<number, string> =>
    k === '6.1'
      ? { 0: 'vma', 8: 'mm', 16: 'start', 24: 'end', 32: 'flags', 36: 'event', 40: 'owner' }
      : { 0: 'mm', 8: 'start', 16: 'end', 24: 'flags', 28: 'event', 32: 'owner' },
  // mm/rmap.c struct make_exclusive_args (<= 6.14).
  make_exclusive_args: () => ({ 0: 'mm', 8: 'address', 16: 'owner', 24: 'valid' }),
};

export interface Signature {
  params: string[];
  /** Struct types of pointer parameters whose members an arg may fetch. */
  structs?: Record<string, string>;
}

/** The functions the model reads, with their parameters (C order) per kernel version. */
export function signature(func: string, k: KernelVersion): Signature | null {
  switch (func) {
    case 'make_device_exclusive_range': // mm/rmap.c, 5.14-6.14
      return { params: ['mm', 'start', 'end', 'pages', 'owner'] };
    case 'make_device_exclusive': // mm/rmap.c, 6.15+
      return { params: ['mm', 'addr', 'owner', 'foliop'] };
    case 'get_user_pages_remote': // mm/gup.c; the vmas array went in 6.5
      return {
        params:
          k === '6.1'
            ? ['mm', 'start', 'nr_pages', 'gup_flags', 'pages', 'vmas', 'locked']
            : ['mm', 'start', 'nr_pages', 'gup_flags', 'pages', 'locked'],
      };
    case 'rmap_walk':
      return { params: ['folio', 'rwc'] };
    case 'rmap_walk_anon':
      return { params: ['folio', 'rwc', 'locked'] };
    case 'page_make_device_exclusive_one':
      return {
        params: ['folio', 'vma', 'address', 'priv'],
        structs: { vma: 'vm_area_struct', priv: 'make_exclusive_args' },
      };
    case 'folio_add_new_anon_rmap':
      return { params: ['folio', 'vma', 'address', 'flags'], structs: { vma: 'vm_area_struct' } };
    case 'page_add_new_anon_rmap': // 6.1
      return { params: ['page', 'vma', 'address'], structs: { vma: 'vm_area_struct' } };
    case 'copy_page_range':
      return {
        params: ['dst_vma', 'src_vma'],
        structs: { dst_vma: 'vm_area_struct', src_vma: 'vm_area_struct' },
      };
    case 'folio_unlock':
      return { params: ['folio'] };
    case 'try_to_migrate': // mm/rmap.c
      return { params: ['folio', 'flags'] };
    case 'try_to_merge_one_page': // mm/ksm.c; 6.13 made it (vma, folio, rmap_item, kfolio)
      return {
        params: k === '6.18' ? ['vma', 'page', 'rmap_item', 'kpage'] : ['vma', 'page', 'kpage'],
      };
    case 'unlock_page':
      return { params: ['page'] };
    case 'handle_mm_fault': // mm/memory.c
      return { params: ['vma', 'address', 'flags', 'regs'], structs: { vma: 'vm_area_struct' } };
    case 'do_wp_page':
    case 'do_swap_page':
      return { params: ['vmf'], structs: { vmf: 'vm_fault' } };
    case '__mmu_notifier_invalidate_range_start':
      return { params: ['range'], structs: { range: 'mmu_notifier_range' } };
    case 'unmap_page_range':
      return {
        params: ['tlb', 'vma', 'addr', 'end', 'details'],
        structs: { vma: 'vm_area_struct' },
      };
    case 'vmalloc':
    case 'vmalloc_noprof':
      return { params: ['size'] };
    case 'uffd_wp_range': // mm/userfaultfd.c
      return {
        params: ['dst_vma', 'start', 'len', 'enable_wp'],
        structs: { dst_vma: 'vm_area_struct' },
      };
    case 'mwriteprotect_range':
      return { params: ['ctx', 'start', 'len', 'enable_wp'] };
    case 'change_protection': // mm/mprotect.c
      return {
        params: ['tlb', 'vma', 'start', 'end', 'cp_flags'],
        structs: { vma: 'vm_area_struct' },
      };
  }
  return null;
}

/** A value the model reads: a path into the call (`start`, `vmf->address`, `*pages`, `$retval`) and how to turn it into a number. */
export interface Want {
  path: string;
  as?: 'pfn' | 'page_end' | 'err_sign';
}

export interface Role {
  /** The name the adapter dispatches on. */
  role: string;
  /** What the model reads it for, and what it does without it. */
  why: string;
  /** Functions that play it, best first: when a trace probes several, the first is kept. */
  funcs: string[];
  kind: 'entry' | 'return';
  nums: Want[];
  s?: Want;
}

/** Every probed call the model reads, and the values it reads from each, in the order fields.ts PROBE_FIELDS names them. */
export const ROLES: Role[] = [
  {
    role: 'kprobe:make_device_exclusive_range',
    funcs: ['make_device_exclusive_range'],
    why: "each call's range (required: without it there are no requests)",
    kind: 'entry',
    nums: [{ path: 'start' }, { path: 'end' }],
  },
  {
    role: 'kretprobe:make_device_exclusive_range',
    funcs: ['make_device_exclusive_range'],
    why: "each call's end and the kernel's page array (scores pages; without it a call ends at the next event of its request)",
    kind: 'return',
    nums: [{ path: '$retval' }, { path: 'start' }],
    s: { path: '*pages' },
  },
  {
    role: 'kprobe:make_device_exclusive_range',
    funcs: ['make_device_exclusive'],
    why: "each call's page (6.15+; required there)",
    kind: 'entry',
    nums: [{ path: 'addr' }, { path: 'addr', as: 'page_end' }],
  },
  {
    role: 'kretprobe:make_device_exclusive_range',
    funcs: ['make_device_exclusive'],
    why: "each call's end and result (6.15+)",
    kind: 'return',
    nums: [{ path: '$retval', as: 'err_sign' }, { path: 'addr' }],
  },
  {
    role: 'kprobe:get_user_pages_remote',
    funcs: ['get_user_pages_remote'],
    why: "when pinning starts (without it pins are placed at the call's entry)",
    kind: 'entry',
    nums: [{ path: 'start' }, { path: 'nr_pages' }, { path: 'gup_flags' }],
  },
  {
    role: 'kretprobe:get_user_pages_remote',
    funcs: ['get_user_pages_remote'],
    why: 'when pinning ends: the GUP-to-walk window opens (without it, at the first walk)',
    kind: 'return',
    nums: [{ path: '$retval' }, { path: 'start' }, { path: 'nr_pages' }],
  },
  // A defconfig build inlines rmap_walk at this call site: rmap_walk_anon is what fires there.
  {
    role: 'kprobe:rmap_walk',
    funcs: ['rmap_walk', 'rmap_walk_anon'],
    why: "when each page's walk begins (without it, page_make_device_exclusive_one; else walk times are interpolated)",
    kind: 'entry',
    nums: [{ path: 'folio', as: 'pfn' }],
  },
  {
    role: 'kprobe:page_make_device_exclusive_one',
    funcs: ['page_make_device_exclusive_one'],
    why: 'a walk reaching a mapped page (walk timing where rmap_walk is not probed)',
    kind: 'entry',
    nums: [{ path: 'folio', as: 'pfn' }, { path: 'address' }],
  },
  {
    role: 'kprobe:folio_add_new_anon_rmap',
    funcs: ['folio_add_new_anon_rmap'],
    why: "GUP's faults (pin-time anchors) and observed PFNs",
    kind: 'entry',
    nums: [{ path: 'folio', as: 'pfn' }, { path: 'address' }],
  },
  {
    role: 'kprobe:folio_add_new_anon_rmap',
    funcs: ['page_add_new_anon_rmap'],
    why: "GUP's faults and observed PFNs (6.1)",
    kind: 'entry',
    nums: [{ path: 'page', as: 'pfn' }, { path: 'address' }],
  },
  {
    role: 'kprobe:do_swap_page',
    funcs: ['do_swap_page'],
    why: "GUP's faults on swap and device-exclusive entries (pin-time anchors: where GUP was, and when)",
    kind: 'entry',
    nums: [{ path: 'vmf->address' }],
  },
  {
    role: 'kprobe:handle_mm_fault',
    funcs: ['handle_mm_fault'],
    why: "GUP's faults where folio_add_new_anon_rmap is not traced (pin-time anchors: where GUP was, and when)",
    kind: 'entry',
    nums: [{ path: 'address' }],
  },
  {
    role: 'kprobe:copy_page_range',
    funcs: ['copy_page_range'],
    why: "when fork copies each VMA (without it, at fork's first event)",
    kind: 'entry',
    nums: [{ path: 'src_vma->vm_start' }, { path: 'src_vma->vm_end' }],
  },
  {
    role: 'kprobe:do_wp_page',
    funcs: ['do_wp_page'],
    why: 'copy-on-write breaks by kernel-mode writes and GUP (without exceptions:page_fault_kernel)',
    kind: 'entry',
    nums: [{ path: 'vmf->address' }, { path: 'vmf->flags' }],
  },
  {
    role: 'kprobe:mmu_notifier_invalidate_range_start',
    funcs: ['__mmu_notifier_invalidate_range_start'],
    why: 'invalidations the model does not make itself (userfaultfd write-protection) and the start of syscall work',
    kind: 'entry',
    nums: [{ path: 'range->start' }, { path: 'range->end' }, { path: 'range->event' }],
  },
  {
    role: 'kprobe:folio_unlock',
    funcs: ['folio_unlock', 'unlock_page'],
    why: 'when a migration lets go of the folios it locked (a make_device_exclusive_range trylock fails until then)',
    kind: 'entry',
    nums: [{ path: 'folio', as: 'pfn' }],
  },
  {
    role: 'kprobe:try_to_merge_one_page',
    funcs: ['try_to_merge_one_page'],
    why: 'which folio ksmd holds locked while it write-protects and merges it (a make_device_exclusive_range trylock fails on it)',
    kind: 'entry',
    nums: [{ path: 'page', as: 'pfn' }],
  },
  {
    role: 'kprobe:try_to_migrate',
    funcs: ['try_to_migrate'],
    why: 'which folio a migration holds locked, from its batch start on (a make_device_exclusive_range trylock fails on it)',
    kind: 'entry',
    nums: [{ path: 'folio', as: 'pfn' }],
  },
  {
    role: 'kprobe:unmap_page_range',
    funcs: ['unmap_page_range'],
    why: 'zaps (MADV_DONTNEED, munmap) in traces without syscall events',
    kind: 'entry',
    nums: [{ path: 'addr' }, { path: 'end' }],
  },
  // userfaultfd write-protection: mwriteprotect_range calls uffd_wp_range per VMA.
  {
    role: 'kprobe:uffd_wp_range',
    funcs: ['uffd_wp_range', 'mwriteprotect_range'],
    why: 'userfaultfd write-protect or resolve, with its mode (without it the mode is guessed from the notifier)',
    kind: 'entry',
    nums: [{ path: 'start' }, { path: 'len' }, { path: 'enable_wp' }],
  },
  {
    role: 'kprobe:change_protection',
    funcs: ['change_protection'],
    why: 'userfaultfd write-protect or resolve from cp_flags (as uffd_wp_range)',
    kind: 'entry',
    nums: [{ path: 'start' }, { path: 'end' }, { path: 'cp_flags' }],
  },
  {
    role: 'kretprobe:vmalloc',
    funcs: ['vmalloc_noprof', 'vmalloc'],
    why: 'when test_hmm reads the range back (its bounce buffer), which settles -ENOENT',
    kind: 'return',
    nums: [],
  },
];
