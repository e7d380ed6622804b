// Binding by values, for probes whose definitions the trace does not carry: an arg named `lo`,
// `va` or `arg1` says nothing certain about what it fetches, but its values do. A user address, a
// struct page pointer, a small count and a `{...}` array look different, and users write a probe's
// args in the order of the function's parameters far more often than not. So the wanted values are
// aligned, in parameter order, with the columns, in printed order, each pair scored by how well the
// column's values fit what the parameter holds.
import { quoteIdent, type Db } from '../store/db.js';
import type { Signature } from './probe_table.js';
import { unsignedSql, VMEMMAP_SPAN } from './vmemmap.js';

/** What a wanted value holds. */
type Kind = 'user' | 'page' | 'small' | 'array' | 'any';

/** How one column's values are spread over the kinds (fractions of its non-zero values). */
export interface ColumnStats {
  name: string;
  varchar: boolean;
  /** Non-null values, and of them non-zero. */
  n: number;
  nonzero: number;
  user: number;
  page: number;
  small: number;
  /** Under 2^20: a count or flags rather than an address. */
  tiny: number;
  /** At or above 2^32: an mmap address rather than a brk one. */
  high: number;
  /** VARCHAR values printed as `{...}` arrays. */
  array: number;
}

/** Each candidate column's value spread, in one pass over the table. */
export async function columnStats(
  db: Db,
  table: string,
  cols: [string, string][],
  vmemmap: bigint,
): Promise<ColumnStats[]> {
  if (!cols.length) return [];
  const parts: string[] = [];
  for (const [c, type] of cols) {
    const q = quoteIdent(c);
    if (type === 'VARCHAR') {
      parts.push(
        `count(${q}) AS "n:${c}"`,
        `count(${q}) FILTER (WHERE ${q} LIKE '{%}') AS "array:${c}"`,
      );
      continue;
    }
    const uv = unsignedSql(q);
    const page = [`(${uv} >= ${vmemmap} AND ${uv} < ${vmemmap + VMEMMAP_SPAN})`];
    parts.push(
      `count(${q}) AS "n:${c}"`,
      `count(${q}) FILTER (WHERE ${uv} <> 0) AS "nonzero:${c}"`,
      `count(${q}) FILTER (WHERE ${uv} >= 4096 AND ${uv} < 72057594037927936) AS "user:${c}"`,
      `count(${q}) FILTER (WHERE ${page.join(' OR ')}) AS "page:${c}"`,
      `count(${q}) FILTER (WHERE ${uv} <> 0 AND (${uv} < 4294967296 OR ${uv} >= 18446744073709547520)) AS "small:${c}"`,
      `count(${q}) FILTER (WHERE ${uv} <> 0 AND ${uv} < 1048576) AS "tiny:${c}"`,
      `count(${q}) FILTER (WHERE ${uv} >= 4294967296 AND ${uv} < 72057594037927936) AS "high:${c}"`,
    );
  }
  const [row] = await db.rows<Record<string, bigint | number>>(
    `SELECT ${parts.join(', ')} FROM ${quoteIdent(table)}`,
  );
  const get = (k: string) => Number(row[k] ?? 0);
  return cols.map(([c, type]) => ({
    name: c,
    varchar: type === 'VARCHAR',
    n: get(`n:${c}`),
    nonzero: type === 'VARCHAR' ? get(`n:${c}`) : get(`nonzero:${c}`),
    user: get(`user:${c}`),
    page: get(`page:${c}`),
    small: get(`small:${c}`),
    tiny: get(`tiny:${c}`),
    high: get(`high:${c}`),
    array: get(`array:${c}`),
  }));
}

/** What the value at a path holds. */
function kindOf(path: string): Kind {
  if (path.startsWith('*')) return 'array';
  // make_device_exclusive (6.15+) returns a page pointer or an ERR_PTR.
  if (path === '$retval:ptr') return 'any';
  const leaf = path.replace(/^.*->/, '');
  if (['folio', 'page'].includes(path)) return 'page';
  if (['start', 'end', 'addr', 'address', 'vm_start', 'vm_end'].includes(leaf)) return 'user';
  return 'small';
}

const FIT = 0.95;

/** How well a column's values fit a kind: -Infinity where they cannot be it. */
export function fitScore(kind: Kind, s: ColumnStats): number {
  if (s.varchar !== (kind === 'array')) return -Infinity;
  if (kind === 'any') return 1;
  if (kind === 'array') return s.n > 0 && s.array >= FIT * s.n ? 3 : -Infinity;
  // A column of zeros (an unused flag, an owner never set) fits a small value, weakly.
  if (s.nonzero === 0) return kind === 'small' && s.n > 0 ? 0.5 : -Infinity;
  const f = (x: number) => x / s.nonzero;
  switch (kind) {
    case 'page':
      return f(s.page) >= FIT ? 3 : -Infinity;
    case 'user':
      return f(s.user) >= FIT ? 2 + 0.5 * f(s.high) - 0.5 * f(s.tiny) : -Infinity;
    case 'small':
      return f(s.small) >= FIT ? 2 + 0.5 * f(s.tiny) : -Infinity;
  }
}

/** Whether a column bound by its name holds what the path holds. */
export const fits = (path: string, s: ColumnStats) => fitScore(kindOf(path), s) > -Infinity;

/** Where a path sits in the call's argument order: the return value first, members after their pointer. */
function rank(path: string, sig: Signature): number {
  if (path.startsWith('$retval')) return -1;
  const [param, member] = path.replace(/^\*/, '').split('->');
  return sig.params.indexOf(param) * 100 + (member ? 1 + member.length / 100 : 0);
}

/**
 * Aligns wanted paths (in argument order) with columns (in printed order), keeping both orders,
 * for the highest total fit; ties keep the earliest column. Returns path -> column.
 */
export function alignByValues(
  wanted: string[],
  stats: ColumnStats[],
  sig: Signature,
): Map<string, string> {
  const w = [...new Set(wanted)].sort((a, b) => rank(a, sig) - rank(b, sig));
  const m = w.length;
  const n = stats.length;
  // best[i][j]: the best total aligning w[i..] with stats[j..].
  const best = Array.from({ length: m + 1 }, () => new Array<number>(n + 1).fill(0));
  const take = Array.from({ length: m + 1 }, () => new Array<number>(n + 1).fill(0));
  for (let i = m - 1; i >= 0; i--)
    for (let j = n - 1; j >= 0; j--) {
      const score = fitScore(kindOf(w[i]), stats[j]);
      const pair = score > -Infinity ? score + best[i + 1][j + 1] : -Infinity;
      const options = [pair, best[i][j + 1], best[i + 1][j]];
      const k = options.indexOf(Math.max(...options));
      best[i][j] = options[k];
      take[i][j] = k;
    }
  const out = new Map<string, string>();
  for (let i = 0, j = 0; i < m && j < n;) {
    if (take[i][j] === 0) out.set(w[i++], stats[j++].name);
    else if (take[i][j] === 1) j++;
    else i++;
  }
  return out;
}

/** Range pairs a user may have written in either order. */
const PAIRS = [
  ['start', 'end'],
  ['addr', 'end'],
  ['range->start', 'range->end'],
  ['src_vma->vm_start', 'src_vma->vm_end'],
];

/** Swaps range bounds bound by value when the trace says the first is mostly the larger. */
export async function orderPairs(db: Db, table: string, pathOf: Map<string, string>) {
  for (const [lo, hi] of PAIRS) {
    const a = pathOf.get(lo);
    const b = pathOf.get(hi);
    if (!a || !b) continue;
    const [r] = await db.rows<{ f: number | null }>(
      `SELECT avg(CASE WHEN ${quoteIdent(a)}::HUGEINT > ${quoteIdent(b)}::HUGEINT THEN 1 ELSE 0 END)::DOUBLE AS f FROM ${quoteIdent(table)}`,
    );
    if ((r?.f ?? 0) > 0.5) {
      pathOf.set(lo, b);
      pathOf.set(hi, a);
    }
  }
}
