// Which function a probe probes where the trace does not say (a line printing only an address, no
// definition, no symbol table): perf probe's event names, the shape of its args, or the address of
// a probe already named.
import type { KernelVersion } from './kernel.js';
import { ROLES, signature, type Signature } from './probe_table.js';

export interface ProbeRow {
  event: string;
  kind: 'entry' | 'return';
  func: string | null;
  args: string | null;
  printed: string;
  source: string | null;
}

export const tableOf = (event: string) => event.replace(/[^A-Za-z0-9_]+/g, '_').toLowerCase();

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

/**
 * A probe at the same address as one already named probes its function: a return probe prints the
 * function's address, its entry probe the same address or a few bytes in.
 */
export function pairByAddress(rows: ProbeRow[]): void {
  const addr = (r: ProbeRow) => {
    const m = /^\(([0-9a-f]{8,16})/.exec(r.printed);
    return m ? BigInt('0x' + m[1]) : null;
  };
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
}

/**
 * The last resort for probes printed only as addresses with no definition or symbol table: an
 * event named after a function the model reads (perf probe's default), an
 * entry whose arg names fit one function the model reads better than any other (`start`, `end`,
 * `pages` are make_device_exclusive_range's), and a probe at the same address as one already named
 * (a return probe prints the function's address, its entry probe the same address or a few bytes
 * in). Ambiguous shapes stay unnamed.
 */
export function nameByShape(
  rows: ProbeRow[],
  columns: Map<string, Map<string, string>>,
  arrays: Set<string>,
  k: KernelVersion,
): void {
  pairByAddress(rows);
  // perf probe names an event after its function (`probe:do_wp_page`, `..._1` for a second one);
  // people name theirs so too, behind a prefix or before a suffix of their own (`my_rmap_walk`,
  // `rmap_walk_ret`). The longest function name the model reads that ends the name wins.
  for (const r of rows) {
    if (r.func) continue;
    const name = r.event
      .replace(/^[^:]*:/, '')
      .replace(/_\d+$/, '')
      .replace(/_{1,2}(?:return|ret|entry|enter|exit)$/, '');
    const words = name.split('_');
    for (let i = 0; i < words.length; i++) {
      const tail = words.slice(i).join('_');
      // `__mmu_notifier_invalidate_range_start` is the function mmu_notifier_... calls.
      const func = [tail, `__${tail}`].find((f) => tail && signature(f, k));
      if (!func) continue;
      r.func = func;
      r.source =
        i === 0
          ? 'its event name (perf probe names events after their function)'
          : 'its event name, which ends with the name of a function the model reads';
      break;
    }
  }
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
  // Of the calls the model reads, only make_device_exclusive_range's return has an array to show
  // (its pages): one unnamed return probe printing one names it, and its entry by address.
  const withArray = rows.filter(
    (r) =>
      !r.func &&
      r.kind === 'return' &&
      [...(columns.get(tableOf(r.event))?.keys() ?? [])].some((c) =>
        arrays.has(`${tableOf(r.event)}.${c}`),
      ),
  );
  if (withArray.length === 1 && signature('make_device_exclusive_range', k)) {
    withArray[0].func = 'make_device_exclusive_range';
    withArray[0].source = 'the page array its return prints';
  }
  pairByAddress(rows);
}
