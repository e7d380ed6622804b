// A kprobe table's row read from the bytes of a body such as
// `(folio_add_new_anon_rmap+0x4/0x121) folio=0xffffea0000400000 vma=0xffff8880034b35e8 flags=0x1`,
// without the regexes' strings: kprobe events are most of a lab trace's (and the synthetic
// trace's) lines. It takes only the plain shape, where the regexes (fields.ts KPROBE_HEAD, KV) can
// read nothing else: `(SYMBOL[+0xOFF/0xSIZE][ <- SYMBOL])`, then `NAME=VALUE` words, each NAME
// all of [\w.] and each VALUE neither empty nor quoted nor braced. Anything else (damage, a quoted
// string) is left to the text's extractRow (null).
import type { Column } from './fields.js';
import {
  kernelHalfBytes,
  smallIntBytes,
  smallValue,
  toValue,
  wide64Bytes,
  type FieldValue,
} from './format.js';
import { Interner } from './interner.js';

const SPACE = 32;

/** extractRow of a kprobe table with these columns (func, caller, args), over the bytes [s, e). */
export function kprobeByteExtractor(
  columns: Column[],
): (b: Buffer, s: number, e: number) => FieldValue[] | null {
  const index = new Map(columns.slice(2).map((c, i) => [c.name, i + 2]));
  const types = columns.map((c) => c.type);
  const wide = types.map((t) => t === 'BIGINT' || t === 'UBIGINT');
  const names = new Interner();
  /** Per column: its VARCHAR values' strings. */
  const texts = columns.map(() => new Interner());
  const row: FieldValue[] = new Array(columns.length).fill(null);
  /** Per column: where its printed value starts and ends (-1: not printed). */
  const from: number[] = new Array(columns.length).fill(-1);
  const to: number[] = new Array(columns.length).fill(-1);
  return (b, s, e) => {
    if (s >= e || b[s] !== 40 /* ( */) return null;
    let at = s + 1;
    const sym = at;
    while (at < e && b[at] !== 43 /* + */ && b[at] !== 41 /* ) */ && b[at] !== SPACE) at++;
    if (at === sym || at >= e) return null;
    const symEnd = at;
    if (b[at] === 43) {
      // `+0xOFF/0xSIZE)`: anything else, and KPROBE_HEAD's lazy symbol would read further.
      at = hex0x(b, at + 1, e);
      if (at < 0 || b[at] !== 47 /* / */) return null;
      at = hex0x(b, at + 1, e);
      if (at < 0) return null;
    }
    // A return probe: `(CALLER <- FUNC)`, FUNC up to the first ')' (KPROBE_HEAD's lazy group).
    let ret = -1;
    if (b[at] === SPACE) {
      if (e - at < 5 || b[at + 1] !== 60 /* < */ || b[at + 2] !== 45 /* - */ || b[at + 3] !== SPACE)
        return null;
      at += 4;
      ret = at;
      while (at < e && b[at] !== 41 && b[at] !== SPACE) at++;
      if (at === ret) return null;
    }
    if (at >= e || b[at] !== 41) return null;
    const retEnd = at;
    at++;
    from.fill(-1);
    for (;;) {
      while (at < e && b[at] === SPACE) at++;
      if (at >= e) break;
      const n = at;
      while (at < e && isWordChar(b[at])) at++;
      if (at === n || at >= e || b[at] !== 61 /* = */) return null;
      const nameEnd = at;
      at++;
      const v = at;
      if (at >= e || b[at] === SPACE || b[at] === 34 /* " */ || b[at] === 123 /* { */) return null;
      while (at < e && b[at] !== SPACE) at++;
      const i = index.get(names.get(b, n, nameEnd));
      if (i !== undefined) {
        from[i] = v;
        to[i] = at;
      }
    }
    if (ret < 0) {
      row[0] = texts[0].get(b, sym, symEnd);
      row[1] = null;
    } else {
      // parseKprobeBody: tracefs prints `(caller <- func)`, trace-cmd and perf `(func <- ret_ip)`.
      const addrs = isBareHex(b, sym, symEnd) && isBareHex(b, ret, retEnd);
      row[0] = addrs ? texts[0].get(b, sym, symEnd) : texts[0].get(b, ret, retEnd);
      row[1] = addrs ? texts[1].get(b, ret, retEnd) : texts[1].get(b, sym, symEnd);
    }
    for (let i = 2; i < row.length; i++) {
      const f = from[i];
      if (f < 0) {
        row[i] = null;
        continue;
      }
      const t = to[i];
      const type = types[i];
      if (type === 'VARCHAR') {
        row[i] = texts[i].get(b, f, t);
        continue;
      }
      const radix = isDecimal(b, f, t) ? 10 : 16;
      const n = smallIntBytes(b, f, t, radix);
      const k = n === n || !wide[i] ? NaN : kernelHalfBytes(b, f, t, radix);
      if (n === n) row[i] = smallValue(n, type, true);
      else if (k === k) row[i] = k;
      else {
        // Past 2^53 and no kernel address: 16 hex digits as a BigInt from their halves, anything
        // else (or no number) as toValue reads the text.
        const w = wide[i] ? wide64Bytes(b, f, t, radix, type === 'BIGINT') : null;
        row[i] = w ?? toValue(b.toString('latin1', f, t), radix, type, true);
      }
    }
    return row;
  };
}

/** BARE_HEX (fields.ts) over [s, e): 8 to 16 lower-case hex digits. */
function isBareHex(b: Buffer, s: number, e: number): boolean {
  if (e - s < 8 || e - s > 16) return false;
  for (let i = s; i < e; i++)
    if (!((b[i] >= 48 && b[i] <= 57) || (b[i] >= 97 && b[i] <= 102))) return false;
  return true;
}

/** `0x` and hex digits at p: the offset past them, -1 where there are none. */
function hex0x(b: Buffer, p: number, e: number): number {
  if (e - p < 3 || b[p] !== 48 /* 0 */ || b[p + 1] !== 120 /* x */) return -1;
  let q = p + 2;
  while (q < e && isHexDigit(b[q])) q++;
  return q === p + 2 ? -1 : q;
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

/** `[\w.]` */
function isWordChar(c: number): boolean {
  return c === 46 || c === 95 || (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
}

/** /^-?\d+$/ over [s, e) */
function isDecimal(b: Buffer, s: number, e: number): boolean {
  let i = b[s] === 45 /* - */ ? s + 1 : s;
  if (i === e) return false;
  for (; i < e; i++) if (b[i] < 48 || b[i] > 57) return false;
  return true;
}
