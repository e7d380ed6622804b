// Binds a trace's kprobe events to what the model reads, by the function each event probes and
// the parameter (or struct member) each of its args fetches: never by the names the user chose.
//
// `probes` (written by ingest) says which function an event probes; its definition, where known,
// says what each arg fetches (`$arg2`, `%si`, `+24(%di)`, a BTF name `vmf->address`). Without a
// definition an arg is matched by its name against the function's parameters and members where
// its values agree, and otherwise by its values and its place in the line (probe_fit.ts).
import { quoteIdent, type Db } from '../store/db.js';
import type { KernelVersion } from './kernel.js';
import { alignByValues, columnStats, fits, orderPairs } from './probe_fit.js';
import { nameByBehaviour } from './probe_behaviour.js';
import { nameByShape, pairByAddress, tableOf, type ProbeRow } from './probe_names.js';
import {
  ARG_REGS,
  ROLES,
  STRUCTS,
  signature,
  type Role,
  type Signature,
  type Want,
} from './probe_table.js';
import { pfnSql, unsignedSql, vmemmapBase } from './vmemmap.js';

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
  m = /^%(\w+)$/.exec(f);
  if (m) {
    // %di or %rdi; %r8 and %r9 keep their r.
    const i = ARG_REGS.includes(m[1]) ? ARG_REGS.indexOf(m[1]) : ARG_REGS.indexOf(m[1].slice(1));
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

function valueSql(col: string, w: Want, structPage: number, vmemmap: bigint): string {
  const c = quoteIdent(col);
  switch (w.as) {
    case 'pfn':
      // A pointer printed in decimal and typed from its text may have wrapped to a negative BIGINT.
      return pfnSql(unsignedSql(c), structPage, vmemmap);
    case 'page_end':
      return `${c} + 4096`;
    case 'err_sign':
      // IS_ERR_VALUE: the top 4095 values are -errno.
      return `CASE WHEN ${c} > 18446744073709547520 THEN -1 ELSE 1 END`;
  }
  return c;
}

/** Each column's path, from the probe's definition: exact. */
function byDefinition(
  args: [string, string][],
  defs: { name: string; fetch: string }[],
  sig: Signature,
  k: KernelVersion,
): Map<string, string> {
  const pathOf = new Map<string, string>();
  for (const [c] of args) {
    const def = defs.find((d) => d.name === c);
    const p = def ? fetchPath(def.fetch, sig, k) : null;
    if (p && !pathOf.has(p)) pathOf.set(p, c);
  }
  return pathOf;
}

/**
 * Each wanted path's column where the trace has no definition: by the arg's name where its values
 * agree, then by values in argument order (probe_fit.ts) for the rest.
 */
async function byNameAndValue(
  db: Db,
  table: string,
  args: [string, string][],
  sig: Signature,
  kind: 'entry' | 'return',
  role: Role,
  vmemmap: bigint,
): Promise<Map<string, string>> {
  const wants = [...role.nums, ...(role.s ? [role.s] : [])];
  const key = (w: Want) => (w.path === '$retval' && w.as === 'err_sign' ? '$retval:ptr' : w.path);
  const wanted = wants.map((w) => w.path);
  const stats = await columnStats(db, table, args, vmemmap);
  const pathOf = new Map<string, string>();
  for (const s of stats) {
    const p = namePath(s.name, sig, kind, s.varchar, wanted);
    const w = wants.find((x) => x.path === p);
    if (p && !pathOf.has(p) && (!w || fits(key(w), s))) pathOf.set(p, s.name);
  }
  const used = new Set(pathOf.values());
  const left = wants.filter((w) => !pathOf.has(w.path));
  const fitted = alignByValues(
    left.map(key),
    stats.filter((s) => !used.has(s.name)),
    sig,
  );
  for (const [p, c] of fitted) pathOf.set(p === '$retval:ptr' ? '$retval' : p, c);
  await orderPairs(db, table, pathOf);
  return pathOf;
}

/** `table.column` of the unnamed probes' columns that print `{...}` arrays. */
async function arrayColumns(
  db: Db,
  rows: ProbeRow[],
  columns: Map<string, Map<string, string>>,
): Promise<Set<string>> {
  const out = new Set<string>();
  for (const r of rows) {
    const table = tableOf(r.event);
    if (r.func) continue;
    for (const [c, type] of columns.get(table) ?? []) {
      if (type !== 'VARCHAR' || c === 'func' || c === 'caller') continue;
      const q = quoteIdent(c);
      const [x] = await db.rows<{ all: boolean }>(
        `SELECT count(${q}) > 0 AND count(${q}) = count(*) FILTER (WHERE ${q} LIKE '{%}') AS "all" FROM ${quoteIdent(table)}`,
      );
      if (x?.all) out.add(`${table}.${c}`);
    }
  }
  return out;
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
  const columns = await db.columns();
  const best = new Map<string, { b: Binding; score: number }>();
  const unbound: Unbound[] = [];
  nameByShape(rows, columns, await arrayColumns(db, rows, columns), k);
  const numeric = new Map<string, string[]>();
  for (const r of rows) {
    const cols = columns.get(tableOf(r.event));
    if (cols)
      numeric.set(
        tableOf(r.event),
        [...cols]
          .filter(([c, t]) => t !== 'VARCHAR' && !['id', 'func', 'caller'].includes(c))
          .map(([c]) => c),
      );
  }
  const vmemmap = await vmemmapBase(db, numeric);
  await nameByBehaviour(db, fileId, rows, numeric, vmemmap);
  pairByAddress(rows);
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
    const args = [...cols].filter(([c]) => c !== 'id' && c !== 'func' && c !== 'caller');
    const pathOf = defs
      ? byDefinition(args, defs, sig, k)
      : await byNameAndValue(db, table, args, sig, r.kind, role, vmemmap);
    const missing: string[] = [];
    const nums = role.nums.map((w) => {
      const c = pathOf.get(w.path);
      if (c === undefined) missing.push(w.path);
      return c === undefined ? '' : valueSql(c, w, structPage, vmemmap);
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
