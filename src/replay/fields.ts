// The fields the model reads of each event, each named once here: the name the handlers read it by
// (event_view.ts), in the order the replay input projects them (input.ts), with the SQL that
// projects it from the event's typed table. A bound kprobe's SQL comes from its binding
// (probes.ts), in the order of its role's wants (probe_table.ts ROLES), named here.

/** A 64-bit column as unsigned, whether typed UBIGINT or (printed in decimal, wrapped) BIGINT. */
const U64 = (col: string) =>
  `((${col}::HUGEINT + 18446744073709551616) % 18446744073709551616)::UBIGINT`;

interface Projection {
  /** Numeric fields by name: the SQL over the event's typed table that reads each. */
  nums: Record<string, string>;
  /** The string field, by name (one at most). */
  s?: Record<string, string>;
  /** The string has few distinct values: read as an ENUM. */
  dict?: true;
}

const FAULT = { address: 'address', error_code: 'error_code', ip: 'ip' } as const;

export const TRACEPOINTS = {
  'exceptions:page_fault_user': { nums: FAULT },
  'exceptions:page_fault_kernel': { nums: FAULT },
  // One allocation in five events, and a handful of distinct flag strings: read as an ENUM.
  'kmem:mm_page_alloc': {
    nums: { pfn: 'pfn', order: '"order"' },
    s: { gfp_flags: 'gfp_flags' },
    dict: true,
  },
  'kmem:mm_page_free': { nums: { pfn: 'pfn', order: '"order"' } },
  'kmem:rss_stat': { nums: { mm_id: 'mm_id', member: 'member', size: 'size', curr: 'curr' } },
  'pagemap:mm_lru_insertion': { nums: { pfn: 'pfn', lru: 'lru' } },
  'task:task_newtask': {
    nums: { pid: 'pid', clone_flags: 'clone_flags' },
    s: { child_comm: 'comm' },
  },
  'sched:sched_process_fork': { nums: { child_pid: 'child_pid' } },
  'sched:sched_process_exec': {
    nums: { pid: 'pid', old_pid: 'old_pid' },
    s: { filename: 'filename' },
  },
  'sched:sched_process_exit': { nums: { pid: 'pid' } },
  // Each PTE's PFN, exact (a 64-bit PTE as a DOUBLE loses its low bits): a migration entry keeps
  // it inverted above the swap type (x86-64 __swp_offset), with its young and dirty bits at bit 34
  // (SWP_MIG_YOUNG_BIT with 4-level paging); the present PTE remove_migration_pte installs has it
  // at bit 12 (PTE_PFN_MASK).
  'migrate:set_migration_pte': {
    nums: { addr: 'addr', pte_pfn: `(~(${U64('pte')}) >> 9) & 17179869183`, order: '"order"' },
  },
  'migrate:remove_migration_pte': {
    nums: { addr: 'addr', pte_pfn: `(${U64('pte')} >> 12) & 68719476735`, order: '"order"' },
  },
  'huge_memory:mm_collapse_huge_page_isolate': {
    nums: { pfn: 'pfn' },
    s: { status_name: 'status_name' },
  },
  'ksm:ksm_merge_with_ksm_page': { nums: { pfn: 'pfn', err: 'err', ksm_page: 'ksm_page' } },
  'ftrace:print': { nums: {}, s: { buf: 'buf' } },
  'mmap_lock:mmap_lock_acquire_returned': {
    nums: { write: '"write"::INTEGER', success: 'success::INTEGER' },
  },
  'mmap_lock:mmap_lock_released': { nums: { write: '"write"::INTEGER' } },
  // Read only where no probe shows the device-exclusive walk (input.ts walkClock).
  'tlb:tlb_flush': { nums: { tlb_reason: 'reason', tlb_pages: 'pages' } },
} as const satisfies Record<string, Projection>;

/** syscalls:sys_enter_NAME's arguments the model reads; every sys_exit_NAME's is `ret`. */
export const SYSCALL_ARGS = {
  mmap: { addr: 'addr', len: 'len', prot: 'prot', flags: 'flags', fd: 'fd', off: '"off"' },
  munmap: { addr: 'addr', len: 'len' },
  mprotect: { start: '"start"', len: 'len', prot: 'prot' },
  madvise: { start: '"start"', len_in: 'len_in', behavior: 'behavior' },
  mremap: {
    addr: 'addr',
    old_len: 'old_len',
    new_len: 'new_len',
    flags: 'flags',
    new_addr: 'new_addr',
  },
  brk: { brk: 'brk' },
  clone: { clone_flags: 'clone_flags' },
  ioctl: { fd: 'fd', cmd: 'cmd', arg: 'arg' },
} as const satisfies Record<string, Record<string, string>>;
const SYSCALL_EXIT = { ret: 'ret' } as const;

/**
 * Each kprobe role's values by name, in the order of its wants in probe_table.ts ROLES (one list
 * for every function that plays the role: make_device_exclusive's addr is the range's start).
 */
export const PROBE_FIELDS = {
  'kprobe:make_device_exclusive_range': { nums: ['start', 'end'] },
  'kretprobe:make_device_exclusive_range': { nums: ['ret', 'start'], s: 'pages' },
  'kprobe:get_user_pages_remote': { nums: ['start', 'nr_pages', 'gup_flags'] },
  'kretprobe:get_user_pages_remote': { nums: ['ret', 'start', 'nr_pages'] },
  'kprobe:rmap_walk': { nums: ['pfn'] },
  'kprobe:page_make_device_exclusive_one': { nums: ['pfn', 'address'] },
  'kprobe:folio_add_new_anon_rmap': { nums: ['pfn', 'address'] },
  'kprobe:do_swap_page': { nums: ['address'] },
  'kprobe:handle_mm_fault': { nums: ['address'] },
  'kprobe:copy_page_range': { nums: ['vm_start', 'vm_end'] },
  'kprobe:do_wp_page': { nums: ['address', 'flags'] },
  'kprobe:mmu_notifier_invalidate_range_start': { nums: ['start', 'end', 'range_event'] },
  'kprobe:folio_unlock': { nums: ['pfn'] },
  'kprobe:try_to_merge_one_page': { nums: ['pfn'] },
  'kprobe:try_to_migrate': { nums: ['pfn'] },
  'kprobe:unmap_page_range': { nums: ['addr', 'end'] },
  'kprobe:uffd_wp_range': { nums: ['start', 'len', 'enable_wp'] },
  'kprobe:change_protection': { nums: ['start', 'end', 'cp_flags'] },
  'kretprobe:vmalloc': { nums: [] },
} as const satisfies Record<string, { nums: readonly string[]; s?: string }>;

type Values<T> = T[keyof T];
type TP = typeof TRACEPOINTS;
type PF = typeof PROBE_FIELDS;

/** Every numeric field's name. */
export type NumField =
  | Values<{ [E in keyof TP]: keyof TP[E]['nums'] }>
  | Values<{ [S in keyof typeof SYSCALL_ARGS]: keyof (typeof SYSCALL_ARGS)[S] }>
  | keyof typeof SYSCALL_EXIT
  | PF[keyof PF]['nums'][number];
/** Every string field's name. */
export type StrField =
  | Values<{ [E in keyof TP]: TP[E] extends { s: object } ? keyof TP[E]['s'] : never }>
  | Values<{ [R in keyof PF]: PF[R] extends { s: string } ? PF[R]['s'] : never }>;

/** An event's fields in slot order: names, and the SQL of each where its table is a tracepoint's or a syscall's. */
export interface EventFields {
  nums: string[];
  /** SQL per numeric field (empty for a kprobe role: its binding has it). */
  sql: string[];
  s: string | null;
  sSql: string | null;
  dict: boolean;
}

const SYSCALL = /^syscalls:sys_(enter|exit)_(\w+)$/;

/** The fields the model reads of an event, by the name it replays it under; null for one it does not use. */
export function fieldsOf(event: string): EventFields | null {
  const tp = (TRACEPOINTS as Record<string, Projection>)[event];
  if (tp) {
    const [s, sSql] = Object.entries(tp.s ?? {})[0] ?? [null, null];
    const nums = Object.keys(tp.nums);
    return { nums, sql: Object.values(tp.nums), s, sSql, dict: tp.dict === true };
  }
  const sys = SYSCALL.exec(event);
  if (sys) {
    const args: Record<string, string> =
      sys[1] === 'exit'
        ? SYSCALL_EXIT
        : ((SYSCALL_ARGS as Record<string, Record<string, string>>)[sys[2]] ?? {});
    return { nums: Object.keys(args), sql: Object.values(args), s: null, sSql: null, dict: false };
  }
  const probe = (PROBE_FIELDS as Record<string, { nums: readonly string[]; s?: string }>)[event];
  if (probe) return { nums: [...probe.nums], sql: [], s: probe.s ?? null, sSql: null, dict: false };
  return null;
}

/** Every numeric and string field name, in a fixed order (the view's field numbers). */
export const NUM_FIELDS: readonly NumField[] = [
  ...new Set([
    ...Object.values(TRACEPOINTS).flatMap((p) => Object.keys(p.nums)),
    ...Object.values(SYSCALL_ARGS).flatMap((a) => Object.keys(a)),
    ...Object.keys(SYSCALL_EXIT),
    ...Object.values(PROBE_FIELDS).flatMap((p) => p.nums),
  ]),
] as NumField[];
export const STR_FIELDS: readonly StrField[] = [
  ...new Set([
    ...Object.values(TRACEPOINTS).flatMap((p) => ('s' in p ? Object.keys(p.s) : [])),
    ...Object.values(PROBE_FIELDS).flatMap((p) => ('s' in p ? [p.s] : [])),
  ]),
] as StrField[];
