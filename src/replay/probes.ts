// Binds a trace's kprobe events to what the model reads, by the function each event probes and
// the parameter (or struct member) each of its args fetches: never by the names the user chose.
//
// `probes` (written by ingest) says which function an event probes; its definition, where known,
// says what each arg fetches (`$arg2`, `%si`, `+24(%di)`, a BTF name `vmf->address`). Without a
// definition an arg is matched by its name against the function's parameters and members.
import { quoteIdent, type Db } from '../analysis/db.js';
import type { KernelVersion } from './kernel.js';

/** x86-64 argument registers in order (arch/x86/include/asm/ptrace.h regs_get_kernel_argument). */
const ARG_REGS = ['di', 'si', 'dx', 'cx', 'r8', 'r9'];

/** The members the model reads, by offset; checked on the lab builds by traces/lab/offsets.c. */
const STRUCTS: Record<string, (k: KernelVersion) => Record<number, string>> = {
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

interface Signature {
  params: string[];
  /** Struct types of pointer parameters whose members an arg may fetch. */
  structs?: Record<string, string>;
}

/** The functions the model reads, with their parameters (C order) per kernel version. */
function signature(func: string, k: KernelVersion): Signature | null {
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
interface Want {
  path: string;
  as?: 'pfn' | 'page_end' | 'err_sign';
}

interface Role {
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

/** Every probed call the model reads, and the values it reads from each, in slot order (a, b, ...). */
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

/** Names people give an arg, beside the parameter's own. */
const SYNONYMS: Record<string, string[]> = {
  address: ['addr', 'va', 'vaddr'],
  addr: ['address', 'va', 'start'],
  start: ['addr', 'address', 'va', 'begin', 'from', 'start_addr'],
  end: ['stop', 'to', 'end_addr', 'last', 'limit'],
  nr_pages: ['npages', 'nr', 'count', 'n'],
  len: ['length', 'size', 'nr_bytes'],
  enable_wp: ['wp', 'enable', 'mode'],
  cp_flags: ['flags', 'cpflags'],
  gup_flags: ['flags', 'gupflags'],
  $retval: ['ret', 'retval', 'rc', 'return', 'res', 'result'],
  '*pages': ['pages', 'page_array', 'pgs'],
  folio: ['page', 'fol'],
  page: ['folio'],
  'vmf->address': ['address', 'addr', 'vmf_address', 'va'],
  'vmf->flags': ['flags', 'vmf_flags', 'fault_flags'],
  'src_vma->vm_start': ['src_start', 'vm_start', 'start'],
  'src_vma->vm_end': ['src_end', 'vm_end', 'end'],
  'range->start': ['start', 'range_start'],
  'range->end': ['end', 'range_end'],
  'range->event': ['event', 'range_event'],
};

/** What a fetch arg reads, as a path: `$arg2`/`%si` -> `start`, `+24($arg1)` -> `vmf->address`, `+0($arg4)` -> `*pages`. */
export function fetchPath(fetch: string, sig: Signature, k: KernelVersion): string | null {
  const f = fetch.trim();
  if (/^(\$retval|%r?ax)$/.test(f)) return '$retval';
  let m = /^\$arg(\d+)$/.exec(f);
  if (m) return sig.params[Number(m[1]) - 1] ?? null;
  m = /^%r?(\w+)$/.exec(f);
  if (m) {
    const i = ARG_REGS.indexOf(m[1]);
    return i >= 0 ? (sig.params[i] ?? null) : null;
  }
  m = /^([+-]?)u?(\d+|0x[0-9a-fA-F]+)\((.+)\)$/.exec(f);
  if (m) {
    const off = (m[1] === '-' ? -1 : 1) * Number(m[2]);
    const inner = fetchPath(m[3], sig, k);
    if (!inner || inner.includes('->') || inner.startsWith('*') || inner === '$retval') return null;
    const struct = sig.structs?.[inner];
    if (struct) {
      const member = STRUCTS[struct](k)[off];
      return member ? `${inner}->${member}` : null;
    }
    return off === 0 ? `*${inner}` : null;
  }
  // BTF args: a parameter's name, or parameter->member.
  m = /^(\w+)(?:->(\w+))?$/.exec(f);
  if (m && sig.params.includes(m[1])) return m[2] ? `${m[1]}->${m[2]}` : m[1];
  return null;
}

const SHAPE_ROLES = new Set([
  'kprobe:make_device_exclusive_range',
  'kretprobe:make_device_exclusive_range',
  'kprobe:get_user_pages_remote',
  'kretprobe:get_user_pages_remote',
]);

/** The path an arg named exactly after a parameter (or param_member, argN, ret) reads. */
function exactPath(
  name: string,
  sig: Signature,
  kind: 'entry' | 'return',
  isArray: boolean,
): string | null {
  const n = name.toLowerCase();
  if (kind === 'return' && (n === 'ret' || n === 'retval' || n === 'arg1')) return '$retval';
  const m = /^arg(\d+)$/.exec(n);
  if (m) return sig.params[Number(m[1]) - 1] ?? null;
  if (sig.params.includes(n)) return isArray ? `*${n}` : n;
  const arrow = /^(\w+?)(?:->|_)(\w+)$/.exec(n);
  if (arrow && sig.structs?.[arrow[1]]) return `${arrow[1]}->${arrow[2]}`;
  return null;
}

/** The path an arg most likely reads, from its name alone (no definition known). */
function namePath(
  name: string,
  sig: Signature,
  kind: 'entry' | 'return',
  isArray: boolean,
  wanted: string[],
): string | null {
  const n = name.toLowerCase();
  if (isArray) {
    for (const p of sig.params)
      if (wanted.includes(`*${p}`) && (n === p || SYNONYMS[`*${p}`]?.includes(n))) return `*${p}`;
    return null;
  }
  // perf probe names a return probe's $retval `arg1`.
  if (kind === 'return' && (SYNONYMS.$retval.includes(n) || n === 'arg1')) return '$retval';
  const m = /^arg(\d+)$/.exec(n);
  if (m) return sig.params[Number(m[1]) - 1] ?? null;
  if (sig.params.includes(n)) return n;
  const arrow = /^(\w+?)(?:->|_|\.)(\w+)$/.exec(n);
  if (
    arrow &&
    sig.structs?.[arrow[1]] &&
    Object.values(STRUCTS[sig.structs[arrow[1]]]('6.12')).includes(arrow[2])
  )
    return `${arrow[1]}->${arrow[2]}`;
  for (const w of wanted) if (SYNONYMS[w]?.includes(n)) return w;
  return null;
}

/** A kprobe event of the trace bound to a role. */
export interface Binding {
  /** The trace's event, `system:name`. */
  event: string;
  role: string;
  func: string;
  table: string;
  /** SQL over the table per numeric slot, '' where the trace does not have it. */
  nums: string[];
  /** SQL of the string slot, or undefined. */
  s?: string;
  /** Wanted paths the trace lacks (for rows' notes and `mmreplay probes`). */
  missing: string[];
}

/** A probe the model would read, but the trace cannot give (no function, or no such arg). */
export interface Unbound {
  event: string;
  func: string | null;
  reason: string;
}

interface ProbeRow {
  event: string;
  kind: 'entry' | 'return';
  func: string | null;
  args: string | null;
  printed: string;
  source: string | null;
}

const tableOf = (event: string) => event.replace(/[^A-Za-z0-9_]+/g, '_').toLowerCase();

/**
 * The last resort for probes printed only as addresses with no definition or symbol table: an
 * entry whose arg names fit one function the model reads better than any other (`start`, `end`,
 * `pages` are make_device_exclusive_range's), and a probe at the same address as one already named
 * (a return probe prints the function's address, its entry probe the same address or a few bytes
 * in). Ambiguous shapes stay unnamed.
 */
function nameByShape(
  rows: ProbeRow[],
  columns: Map<string, Map<string, string>>,
  k: KernelVersion,
): void {
  const addr = (r: ProbeRow) => {
    const m = /^\(([0-9a-f]{8,16})/.exec(r.printed);
    return m ? BigInt('0x' + m[1]) : null;
  };
  const pair = () => {
    const known = rows
      .filter((r) => r.func && addr(r) !== null)
      .map((r) => ({ a: addr(r)!, func: r.func! }));
    for (const r of rows) {
      const a = addr(r);
      if (r.func || a === null) continue;
      const hit = known.find((x) => (x.a > a ? x.a - a : a - x.a) <= 16n);
      if (hit) {
        r.func = hit.func;
        r.source = 'address of a probe already named';
      }
    }
  };
  pair();
  for (const r of rows) {
    const cols = columns.get(tableOf(r.event));
    if (r.func || !cols) continue;
    let bestScore = 1;
    let found: string[] = [];
    const args = [...cols].filter(([c]) => c !== 'id' && c !== 'func' && c !== 'caller');
    for (const role of ROLES) {
      // Only the calls whose parameter lists are distinctive, and names exactly the parameters'.
      if (role.kind !== r.kind || !SHAPE_ROLES.has(role.role)) continue;
      const wanted = [...role.nums, ...(role.s ? [role.s] : [])].map((w) => w.path);
      for (const f of role.funcs) {
        const sig = signature(f, k);
        if (!sig) continue;
        const paths = args.map(([c, type]) => exactPath(c, sig, r.kind, type === 'VARCHAR'));
        const hits = new Set(paths.filter((p): p is string => p !== null && wanted.includes(p)));
        // Every value the role reads, and nearly every arg one of the function's.
        if (
          hits.size < wanted.length ||
          paths.filter(Boolean).length < 0.8 * args.length ||
          hits.size < bestScore
        )
          continue;
        if (hits.size > bestScore) found = [];
        bestScore = hits.size;
        found.push(f);
      }
    }
    if (found.length === 1) {
      r.func = found[0];
      r.source = 'shape of its args';
    }
  }
  pair();
}

const VMEMMAP_5LEVEL = 0xffd4000000000000n; // __VMEMMAP_BASE_L5
const VMEMMAP_4LEVEL = 0xffffea0000000000n; // __VMEMMAP_BASE_L4

/** A struct page / folio pointer as a PFN (vmemmap, KASLR off; 4- or 5-level base). */
export const pfnSql = (col: string, structPage: number) =>
  `CASE WHEN ${col} >= ${VMEMMAP_4LEVEL} THEN (${col} - ${VMEMMAP_4LEVEL}) // ${structPage} WHEN ${col} >= ${VMEMMAP_5LEVEL} THEN (${col} - ${VMEMMAP_5LEVEL}) // ${structPage} END`;

function valueSql(col: string, w: Want, structPage: number): string {
  const c = quoteIdent(col);
  switch (w.as) {
    case 'pfn':
      // A pointer printed in decimal and typed from its text may have wrapped to a negative BIGINT.
      return pfnSql(`((${c}::HUGEINT + 18446744073709551616) % 18446744073709551616)`, structPage);
    case 'page_end':
      return `${c} + 4096`;
    case 'err_sign':
      // IS_ERR_VALUE: the top 4095 values are -errno.
      return `CASE WHEN ${c} > 18446744073709547520 THEN -1 ELSE 1 END`;
  }
  return c;
}

/**
 * Binds each probe of a file: its function picks the role, each wanted value the column whose
 * fetch (or, without a definition, whose name) reads it. Where a trace probes a function twice
 * (two probe sets), or two functions that play one role, the binding with the most values wins.
 */
export async function bindProbes(
  db: Db,
  fileId: number,
  k: KernelVersion,
  structPage: number,
): Promise<{ bound: Binding[]; unbound: Unbound[] }> {
  const tables = new Set(await db.tables());
  if (!tables.has('probes')) return { bound: [], unbound: [] };
  const rows = await db.rows<ProbeRow>(
    `SELECT event, kind, func, args::VARCHAR AS args, printed, source FROM probes WHERE file_id = ${fileId} ORDER BY event`,
  );
  const columns = new Map<string, Map<string, string>>();
  for (const r of await db.rows<{ t: string; c: string; type: string }>(
    `SELECT table_name t, column_name c, data_type AS "type" FROM information_schema.columns`,
  )) {
    if (!columns.has(r.t)) columns.set(r.t, new Map());
    columns.get(r.t)!.set(r.c, r.type);
  }
  const best = new Map<string, { b: Binding; score: number }>();
  const unbound: Unbound[] = [];
  nameByShape(rows, columns, k);
  for (const r of rows) {
    if (!r.func) {
      unbound.push({
        event: r.event,
        func: null,
        reason:
          'no probed function: the line prints an address and no definition or kallsyms names it (--probes, --kallsyms)',
      });
      continue;
    }
    const func = r.func.replace(/\.(?:constprop|isra|part|cold)\.\d+$/, '');
    const role = ROLES.find((x) => x.kind === r.kind && x.funcs.includes(func));
    const sig = signature(func, k);
    if (!role || !sig) continue;
    const table = r.event.replace(/[^A-Za-z0-9_]+/g, '_').toLowerCase();
    const cols = columns.get(table);
    if (!cols) {
      unbound.push({ event: r.event, func, reason: 'no typed table (its fields did not parse)' });
      continue;
    }
    const defs = r.args ? (JSON.parse(r.args) as { name: string; fetch: string }[]) : null;
    const wanted = [...role.nums, ...(role.s ? [role.s] : [])].map((w) => w.path);
    const pathOf = new Map<string, string>();
    for (const [c, type] of cols) {
      if (c === 'id' || c === 'func' || c === 'caller') continue;
      const def = defs?.find((d) => d.name === c);
      const p = def
        ? fetchPath(def.fetch, sig, k)
        : namePath(c, sig, r.kind, type === 'VARCHAR', wanted);
      if (p && !pathOf.has(p)) pathOf.set(p, c);
    }
    const missing: string[] = [];
    const nums = role.nums.map((w) => {
      const c = pathOf.get(w.path);
      if (c === undefined) missing.push(w.path);
      return c === undefined ? '' : valueSql(c, w, structPage);
    });
    let s: string | undefined;
    if (role.s) {
      const c = pathOf.get(role.s.path);
      if (c === undefined) missing.push(role.s.path);
      else s = quoteIdent(c);
    }
    const score = wanted.length - missing.length - role.funcs.indexOf(func) / 10;
    const prev = best.get(role.role);
    const b: Binding = { event: r.event, role: role.role, func, table, nums, s, missing };
    if (!prev || score > prev.score) {
      if (prev)
        unbound.push({
          event: prev.b.event,
          func: prev.b.func,
          reason: `${b.event} plays the same role with more of its values`,
        });
      best.set(role.role, { b, score });
    } else
      unbound.push({
        event: r.event,
        func,
        reason: `${prev.b.event} plays the same role with more of its values`,
      });
  }
  return { bound: [...best.values()].map((x) => x.b), unbound };
}

/** SQL selecting (id, ts, tid, a, b) of a bound role's events in a file, or null when unbound. */
export function roleSql(bindings: Binding[], role: string, fileId: number): string | null {
  const b = bindings.find((x) => x.role === role);
  if (!b) return null;
  const a = b.nums[0] || 'NULL';
  const bb = b.nums[1] || 'NULL';
  // The values are computed inside the typed table, whose columns may share a name with events' (flags).
  return `SELECT e.id, e.ts_ns AS ts, e.tid, t.a, t.b FROM events e JOIN (SELECT id, (${a})::DOUBLE AS a, (${bb})::DOUBLE AS b FROM ${quoteIdent(b.table)}) t USING (id) WHERE e.file_id = ${fileId}`;
}

/** Whether a function the model reads exists (and is the one to probe) in a kernel version. */
function existsIn(func: string, k: KernelVersion): boolean {
  switch (func) {
    case 'make_device_exclusive_range':
      return k !== '6.18';
    case 'make_device_exclusive':
      return k === '6.18';
    case 'page_add_new_anon_rmap':
    case 'vmalloc':
      return k === '6.1';
    case 'folio_add_new_anon_rmap':
    case 'vmalloc_noprof':
      return k !== '6.1';
  }
  return signature(func, k) !== null;
}

/** How to place the probes the model reads, on a given kernel: kprobe_events lines and perf probe commands. */
export function probeRecipes(
  k: KernelVersion,
): { role: string; func: string; why: string; kprobe: string; perf: string }[] {
  const out: { role: string; func: string; why: string; kprobe: string; perf: string }[] = [];
  for (const r of ROLES) {
    const func = r.funcs.find((f) => existsIn(f, k));
    if (!func) continue;
    const sig = signature(func, k)!;
    const args: { name: string; fetch: string; reg: string; type: string }[] = [];
    for (const w of [...r.nums, ...(r.s ? [r.s] : [])]) {
      const name = w.path.replace(/^\*|^\$/, '').replace('->', '_');
      if (args.some((a) => a.name === name)) continue;
      if (w.path === '$retval') {
        args.push({
          name: 'ret',
          fetch: '$retval',
          reg: '$retval',
          type:
            func === 'get_user_pages_remote'
              ? 's64'
              : func === 'make_device_exclusive'
                ? 'x64'
                : 's32',
        });
        continue;
      }
      const [param, member] = w.path.replace(/^\*/, '').split('->');
      const i = sig.params.indexOf(param);
      if (i < 0) continue;
      let fetch = `$arg${i + 1}`;
      let reg = `%${ARG_REGS[i]}`;
      if (member) {
        const off = Object.entries(STRUCTS[sig.structs![param]](k)).find(
          ([, m]) => m === member,
        )?.[0];
        fetch = `+${off}(${fetch})`;
        reg = `+${off}(${reg})`;
      }
      const array = w.path.startsWith('*');
      if (array) {
        fetch = `+0(${fetch})`;
        reg = `+0(${reg})`;
      }
      // enum mmu_notifier_event and fault/notifier flags are 32-bit, bool 8-bit.
      const type = array
        ? 'x64[64]'
        : member === 'event' || member === 'flags'
          ? 'u32'
          : param === 'enable_wp'
            ? 'u8'
            : 'x64';
      args.push({ name, fetch, reg, type });
    }
    // Return probes read entry args from 6.10 on (kernel/trace/trace_probe.c).
    const usable =
      r.kind === 'entry' || k !== '6.1' ? args : args.filter((a) => a.fetch === '$retval');
    const list = (reg: boolean) =>
      usable.map((a) => `${a.name}=${reg ? a.reg : a.fetch}:${a.type}`).join(' ');
    const ev = `${func}${r.kind === 'return' ? '_ret' : ''}`;
    out.push({
      role: r.role,
      func,
      why: r.why,
      kprobe: `${r.kind === 'return' ? 'r' : 'p'}:mmreplay/${ev} ${func} ${list(false)}`.trimEnd(),
      perf: `perf probe -a '${func}${r.kind === 'return' ? '%return' : ''} ${list(true)}'`.replace(
        / '$/,
        "'",
      ),
    });
  }
  return out;
}
