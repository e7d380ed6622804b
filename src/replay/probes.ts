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
      return { params: k === '6.1' ? ['mm', 'start', 'nr_pages', 'gup_flags', 'pages', 'vmas', 'locked'] : ['mm', 'start', 'nr_pages', 'gup_flags', 'pages', 'locked'] };
    case 'rmap_walk':
      return { params: ['folio', 'rwc'] };
    case 'rmap_walk_anon':
      return { params: ['folio', 'rwc', 'locked'] };
    case 'page_make_device_exclusive_one':
      return { params: ['folio', 'vma', 'address', 'priv'], structs: { vma: 'vm_area_struct', priv: 'make_exclusive_args' } };
    case 'folio_add_new_anon_rmap':
      return { params: ['folio', 'vma', 'address', 'flags'], structs: { vma: 'vm_area_struct' } };
    case 'page_add_new_anon_rmap': // 6.1
      return { params: ['page', 'vma', 'address'], structs: { vma: 'vm_area_struct' } };
    case 'copy_page_range':
      return { params: ['dst_vma', 'src_vma'], structs: { dst_vma: 'vm_area_struct', src_vma: 'vm_area_struct' } };
    case 'do_wp_page':
    case 'do_swap_page':
      return { params: ['vmf'], structs: { vmf: 'vm_fault' } };
    case '__mmu_notifier_invalidate_range_start':
      return { params: ['range'], structs: { range: 'mmu_notifier_range' } };
    case 'unmap_page_range':
      return { params: ['tlb', 'vma', 'addr', 'end', 'details'], structs: { vma: 'vm_area_struct' } };
    case 'vmalloc':
    case 'vmalloc_noprof':
      return { params: ['size'] };
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
  /** Functions that play it, best first: when a trace probes several, the first is kept. */
  funcs: string[];
  kind: 'entry' | 'return';
  nums: Want[];
  s?: Want;
}

/** Every probed call the model reads, and the values it reads from each, in slot order (a, b, ...). */
export const ROLES: Role[] = [
  { role: 'kprobe:make_device_exclusive_range', funcs: ['make_device_exclusive_range'], kind: 'entry', nums: [{ path: 'start' }, { path: 'end' }] },
  { role: 'kretprobe:make_device_exclusive_range', funcs: ['make_device_exclusive_range'], kind: 'return', nums: [{ path: '$retval' }, { path: 'start' }], s: { path: '*pages' } },
  { role: 'kprobe:make_device_exclusive_range', funcs: ['make_device_exclusive'], kind: 'entry', nums: [{ path: 'addr' }, { path: 'addr', as: 'page_end' }] },
  { role: 'kretprobe:make_device_exclusive_range', funcs: ['make_device_exclusive'], kind: 'return', nums: [{ path: '$retval', as: 'err_sign' }, { path: 'addr' }] },
  { role: 'kprobe:get_user_pages_remote', funcs: ['get_user_pages_remote'], kind: 'entry', nums: [{ path: 'start' }, { path: 'nr_pages' }, { path: 'gup_flags' }] },
  { role: 'kretprobe:get_user_pages_remote', funcs: ['get_user_pages_remote'], kind: 'return', nums: [{ path: '$retval' }, { path: 'start' }, { path: 'nr_pages' }] },
  // A defconfig build inlines rmap_walk at this call site: rmap_walk_anon is what fires there.
  { role: 'kprobe:rmap_walk', funcs: ['rmap_walk', 'rmap_walk_anon'], kind: 'entry', nums: [{ path: 'folio', as: 'pfn' }] },
  { role: 'kprobe:page_make_device_exclusive_one', funcs: ['page_make_device_exclusive_one'], kind: 'entry', nums: [{ path: 'folio', as: 'pfn' }, { path: 'address' }] },
  { role: 'kprobe:folio_add_new_anon_rmap', funcs: ['folio_add_new_anon_rmap'], kind: 'entry', nums: [{ path: 'folio', as: 'pfn' }, { path: 'address' }] },
  { role: 'kprobe:folio_add_new_anon_rmap', funcs: ['page_add_new_anon_rmap'], kind: 'entry', nums: [{ path: 'page', as: 'pfn' }, { path: 'address' }] },
  { role: 'kprobe:copy_page_range', funcs: ['copy_page_range'], kind: 'entry', nums: [{ path: 'src_vma->vm_start' }, { path: 'src_vma->vm_end' }] },
  { role: 'kprobe:do_wp_page', funcs: ['do_wp_page'], kind: 'entry', nums: [{ path: 'vmf->address' }, { path: 'vmf->flags' }] },
  { role: 'kprobe:mmu_notifier_invalidate_range_start', funcs: ['__mmu_notifier_invalidate_range_start'], kind: 'entry', nums: [{ path: 'range->start' }, { path: 'range->end' }, { path: 'range->event' }] },
  { role: 'kprobe:unmap_page_range', funcs: ['unmap_page_range'], kind: 'entry', nums: [] },
  { role: 'kretprobe:vmalloc', funcs: ['vmalloc_noprof', 'vmalloc'], kind: 'return', nums: [] },
];

/** Names people give an arg, beside the parameter's own. */
const SYNONYMS: Record<string, string[]> = {
  address: ['addr', 'va', 'vaddr'],
  addr: ['address', 'va', 'start'],
  nr_pages: ['npages', 'nr', 'count', 'n'],
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

/** The path an arg most likely reads, from its name alone (no definition known). */
function namePath(name: string, sig: Signature, kind: 'entry' | 'return', isArray: boolean, wanted: string[]): string | null {
  const n = name.toLowerCase();
  if (isArray) {
    for (const p of sig.params) if (wanted.includes(`*${p}`) && (n === p || SYNONYMS[`*${p}`]?.includes(n))) return `*${p}`;
    return null;
  }
  const m = /^arg(\d+)$/.exec(n);
  if (m) return sig.params[Number(m[1]) - 1] ?? null;
  if (kind === 'return' && SYNONYMS.$retval.includes(n)) return '$retval';
  if (sig.params.includes(n)) return n;
  const arrow = /^(\w+?)(?:->|_|\.)(\w+)$/.exec(n);
  if (arrow && sig.structs?.[arrow[1]] && Object.values(STRUCTS[sig.structs[arrow[1]]]('6.12')).includes(arrow[2])) return `${arrow[1]}->${arrow[2]}`;
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
      return pfnSql(c, structPage);
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
export async function bindProbes(db: Db, fileId: number, k: KernelVersion, structPage: number): Promise<{ bound: Binding[]; unbound: Unbound[] }> {
  const tables = new Set(await db.tables());
  if (!tables.has('probes')) return { bound: [], unbound: [] };
  const rows = await db.rows<ProbeRow>(`SELECT event, kind, func, args::VARCHAR AS args FROM probes WHERE file_id = ${fileId} ORDER BY event`);
  const columns = new Map<string, Map<string, string>>();
  for (const r of await db.rows<{ t: string; c: string; type: string }>(`SELECT table_name t, column_name c, data_type AS "type" FROM information_schema.columns`)) {
    if (!columns.has(r.t)) columns.set(r.t, new Map());
    columns.get(r.t)!.set(r.c, r.type);
  }
  const best = new Map<string, { b: Binding; score: number }>();
  const unbound: Unbound[] = [];
  for (const r of rows) {
    if (!r.func) {
      unbound.push({ event: r.event, func: null, reason: 'no probed function: the line prints an address and no definition or kallsyms names it (--probes, --kallsyms)' });
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
      const p = def ? fetchPath(def.fetch, sig, k) : namePath(c, sig, r.kind, type === 'VARCHAR', wanted);
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
      if (prev) unbound.push({ event: prev.b.event, func: prev.b.func, reason: `${b.event} plays the same role with more of its values` });
      best.set(role.role, { b, score });
    } else unbound.push({ event: r.event, func, reason: `${prev.b.event} plays the same role with more of its values` });
  }
  return { bound: [...best.values()].map((x) => x.b), unbound };
}

/** SQL selecting (id, ts, tid, a, b) of a bound role's events in a file, or null when unbound. */
export function roleSql(bindings: Binding[], role: string, fileId: number): string | null {
  const b = bindings.find((x) => x.role === role);
  if (!b) return null;
  const a = b.nums[0] || 'NULL';
  const bb = b.nums[1] || 'NULL';
  return `SELECT e.id, e.ts_ns AS ts, e.tid, (${a})::DOUBLE AS a, (${bb})::DOUBLE AS b FROM events e JOIN ${quoteIdent(b.table)} USING (id) WHERE e.file_id = ${fileId}`;
}
