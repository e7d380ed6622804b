// Event presets for `mmreplay record`.

const SYSCALLS = ['mmap', 'munmap', 'mprotect', 'madvise', 'mremap', 'brk', 'clone', 'clone3', 'fork', 'vfork', 'execve', 'exit_group', 'ioctl', 'move_pages', 'mbind'];

const MM_LITE = [
  'exceptions:page_fault_user',
  // Kernel-mode faults on user memory (put_user, copy_to_user) break COW too.
  'exceptions:page_fault_kernel',
  ...SYSCALLS.flatMap((s) => [`syscalls:sys_enter_${s}`, `syscalls:sys_exit_${s}`]),
  'task:task_newtask',
  'task:task_rename',
  'sched:sched_process_fork',
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'sched:sched_process_free',
  'kmem:rss_stat',
  'pagemap:mm_lru_insertion',
  'migrate:*',
  'thp:*',
  'huge_memory:*',
  'ksm:*',
  'mmap_lock:*',
];

const MM = [...MM_LITE, 'kmem:mm_page_alloc', 'kmem:mm_page_free', 'kmem:mm_page_free_batched', 'tlb:tlb_flush'];

export interface KprobeDef {
  event: string;
  definition: string;
}

/**
 * Kprobes around device-exclusive conversion. Offsets are those verified against the 6.12 lab
 * kernel (traces/lab/6.12/offsets.txt: make_exclusive_args, mmu_notifier_range, vm_fault, folio).
 * Return probes that fetch $argN need 6.10+; older kernels refuse them and say so.
 */
export const DEVICE_EXCLUSIVE_KPROBES: KprobeDef[] = [
  ['mder_make_device_exclusive_range', 'p', 'make_device_exclusive_range', 'mm=$arg1:x64 start=$arg2:x64 end=$arg3:x64 pages=$arg4:x64 owner=$arg5:x64'],
  ['mder_make_device_exclusive_range_ret', 'r10', 'make_device_exclusive_range', 'ret=$retval:s32 start=$arg2:x64 pages=+0($arg4):x64[64]'],
  ['mder_make_device_exclusive', 'p', 'make_device_exclusive', 'mm=$arg1:x64 addr=$arg2:x64 owner=$arg3:x64'],
  ['mder_make_device_exclusive_ret', 'r10', 'make_device_exclusive', 'ret=$retval:x64 addr=$arg2:x64'],
  ['mder_get_user_pages_remote', 'p', 'get_user_pages_remote', 'mm=$arg1:x64 start=$arg2:x64 nr_pages=$arg3:u64 gup_flags=$arg4:x32'],
  ['mder_get_user_pages_remote_ret', 'r10', 'get_user_pages_remote', 'ret=$retval:s64 mm=$arg1:x64 start=$arg2:x64 nr_pages=$arg3:u64'],
  ['mder_page_make_device_exclusive_one', 'p', 'page_make_device_exclusive_one', 'folio=$arg1:x64 vma=$arg2:x64 address=$arg3:x64 args_mm=+0($arg4):x64 args_address=+8($arg4):x64 valid=+24($arg4):u8'],
  ['mder_page_make_device_exclusive_one_ret', 'r10', 'page_make_device_exclusive_one', 'ret=$retval:u8 folio=$arg1:x64 address=$arg3:x64 valid=+24($arg4):u8'],
  ['mder_mmu_notifier_invalidate_range_start', 'p', '__mmu_notifier_invalidate_range_start', 'mm=+0($arg1):x64 start=+8($arg1):x64 end=+16($arg1):x64 flags=+24($arg1):u32 event=+28($arg1):u32 owner=+32($arg1):x64'],
  ['mder_do_swap_page', 'p', 'do_swap_page', 'vma=+0($arg1):x64 address=+24($arg1):x64 orig_pte=+64($arg1):x64'],
  ['mder_do_wp_page', 'p', 'do_wp_page', 'vma=+0($arg1):x64 address=+24($arg1):x64 orig_pte=+64($arg1):x64'],
  ['mder_restore_exclusive_pte', 'p', 'restore_exclusive_pte', 'vma=$arg1:x64 page=$arg2:x64 address=$arg3:x64'],
  ['mder_copy_page_range', 'p', 'copy_page_range', 'dst_vma=$arg1:x64 src_vma=$arg2:x64 src_start=+0($arg2):x64 src_end=+8($arg2):x64'],
  ['mder_unmap_page_range', 'p', 'unmap_page_range', 'vma=$arg2:x64 addr=$arg3:x64 end=$arg4:x64'],
].map(([name, kind, fn, args]) => ({ event: `kprobes:${name}`, definition: `${kind}:kprobes/${name} ${fn} ${args}` }));

export const PRESETS: Record<string, { events: string[]; kprobes: KprobeDef[] }> = {
  mm: { events: MM, kprobes: [] },
  'mm-lite': { events: MM_LITE, kprobes: [] },
  'device-exclusive': { events: MM, kprobes: DEVICE_EXCLUSIVE_KPROBES },
};

/** Expands `-e mm,kmem:rss_stat,migrate:*` against the kernel's available events. */
export function expandEvents(
  spec: string[],
  available: string[],
): { events: string[]; kprobes: KprobeDef[]; missing: string[]; unknown: string[] } {
  const events = new Set<string>();
  const kprobes: KprobeDef[] = [];
  const missing: string[] = []; // named by a preset, absent from this kernel
  const unknown: string[] = []; // named by the user, absent from this kernel
  const avail = new Set(available);
  const add = (e: string, out: string[]) => {
    if (e.endsWith(':*')) {
      const sys = e.slice(0, -1);
      const matched = available.filter((a) => a.startsWith(sys));
      if (!matched.length) out.push(e);
      matched.forEach((m) => events.add(m));
    } else if (avail.has(e)) events.add(e);
    else out.push(e);
  };
  for (const item of spec.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
    const p = PRESETS[item];
    if (p) {
      p.events.forEach((e) => add(e, missing));
      kprobes.push(...p.kprobes);
    } else add(item, unknown);
  }
  return { events: [...events], kprobes, missing, unknown };
}
