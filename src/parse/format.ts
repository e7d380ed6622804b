// Reads a tracefs event `format` file and compiles its `print fmt` into a matcher that recovers
// typed field values from the printed text, the way libtraceevent reads it the other way round.

export interface FormatField {
  name: string;
  /** C declaration type, e.g. `unsigned long`, `char[16]`, `__data_loc char[]`. */
  ctype: string;
  /** Byte offset in the event's binary record (the `.dat`/perf.data readers use it). */
  offset: number;
  size: number;
  signed: boolean;
}

export interface EventFormat {
  system: string;
  name: string;
  id: number | null;
  fields: FormatField[];
  printFmt: string;
  printArgs: string[];
}

export type SqlType =
  'BIGINT' | 'UBIGINT' | 'INTEGER' | 'UINTEGER' | 'SMALLINT' | 'BOOLEAN' | 'VARCHAR';

/** A format file's field line: its declaration, offset, size and signedness. */
export const FIELD_LINE = /field:([^;]*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;
/** A field declaration: type, name, array bounds. */
export const FIELD_DECL = /^(.*?)([A-Za-z_]\w*)\s*(\[[^\]]*\])?$/;

/** A format file's `name:` and `ID:` lines' values, null where one is missing. */
export function formatHead(text: string): { name: string | null; id: number | null } {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1];
  const id = /^ID:\s*(\d+)/m.exec(text)?.[1];
  return { name: name ?? null, id: id ? +id : null };
}

export function parseFormatFile(text: string, system: string): EventFormat {
  const { name, id } = formatHead(text);
  if (!name) throw new Error('format file has no "name:" line');
  const fields: FormatField[] = [];
  for (const m of text.matchAll(new RegExp(FIELD_LINE.source, 'g'))) {
    const decl = m[1].trim();
    const fm = FIELD_DECL.exec(decl);
    if (!fm) continue;
    const fname = fm[2];
    if (fname.startsWith('common_')) continue;
    fields.push({
      name: fname,
      ctype: (fm[1].trim() + (fm[3] ?? '')).trim(),
      offset: +m[2],
      size: +m[3],
      signed: m[4] === '1',
    });
  }
  const pf = /^print fmt:\s*(.*)$/m.exec(text)?.[1] ?? '""';
  const [printFmt, rest] = readCString(pf);
  const printArgs = splitTopLevel(rest.replace(/^\s*,/, ''));
  return { system, name, id, fields, printFmt, printArgs };
}

function readCString(s: string): [string, string] {
  let i = s.indexOf('"');
  if (i < 0) return ['', s];
  let out = '';
  for (i++; i < s.length && s[i] !== '"'; i++) {
    if (s[i] === '\\' && i + 1 < s.length) {
      const c = s[++i];
      out += c === 'n' ? '\n' : c === 't' ? '\t' : c;
    } else out += s[i];
  }
  return [out, s.slice(i + 1)];
}

/** Splits a C argument list on commas outside parentheses, braces and string literals. */
export function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inStr) {
      cur += c;
      if (c === '\\') cur += s[++i] ?? '';
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export function sqlTypeOf(f: FormatField): SqlType {
  const t = f.ctype;
  if (/char\s*\[|\bchar\b.*\[\]|__data_loc/.test(t)) return 'VARCHAR';
  if (/\*/.test(t)) return 'UBIGINT';
  if (t === 'bool') return 'BOOLEAN';
  if (f.size === 8) return f.signed ? 'BIGINT' : 'UBIGINT';
  if (f.size === 2 || f.size === 1) return 'SMALLINT';
  return f.signed ? 'INTEGER' : 'UINTEGER';
}

/** How one printf conversion's text maps back to a field. */
export type Capture =
  | { kind: 'num'; field: string; radix: 10 | 16; signed: boolean }
  /** `symbol`: %ps/%pS/%pB print a kernel symbol (`elf_load+0x1c`) where one is known. */
  | { kind: 'ptr'; field: string; symbol: boolean }
  | { kind: 'str'; field: string }
  | { kind: 'symbolic'; field: string; table: Map<string, number> }
  | { kind: 'flags'; field: string }
  | { kind: 'bit'; field: string; mask: bigint; on: string; off: string }
  | { kind: 'skip' };

export interface CompiledFormat {
  format: EventFormat;
  regex: RegExp;
  /** The text's shape, whose captures are `captures` in order. */
  pieces: Piece[];
  captures: Capture[];
  /** Each capture's printf conversion (`d`, `lx`→`x`, `s`, `pS`, ...) and its print argument. */
  conversions: { conv: string; arg: string }[];
  /** Output columns: one per field, plus `<field>_name` for fields printed symbolically and
   *  `<field>_sym` for pointers printed as kernel symbols. */
  columns: { name: string; type: SqlType; field: FormatField | null }[];
}

function stripCasts(expr: string): string {
  let e = expr.trim();
  for (;;) {
    const before = e;
    e = e.replace(
      /^\(\s*(?:const\s+)?(?:unsigned\s+|signed\s+|struct\s+)?[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*\s*\**\s*\)\s*/,
      '',
    );
    if (e.startsWith('(') && matchingParen(e, 0) === e.length - 1) e = e.slice(1, -1).trim();
    if (e === before) return e;
  }
}

function matchingParen(s: string, open: number): number {
  let d = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') d++;
    else if (s[i] === ')' && --d === 0) return i;
  }
  return -1;
}

const REC = /^REC->(\w+)$/;

function symbolicTable(expr: string): Map<string, number> {
  const t = new Map<string, number>();
  for (const m of expr.matchAll(/\{\s*(-?(?:0x)?[0-9a-fA-F]+)[UL]*\s*,\s*"([^"]*)"\s*\}/g)) {
    t.set(m[2], Number(m[1]));
  }
  return t;
}

function classify(arg: string, conv: string): Capture {
  const e = stripCasts(arg);
  let m = REC.exec(e);
  if (m) {
    if (conv === 's') return { kind: 'str', field: m[1] };
    if (conv.startsWith('p')) return { kind: 'ptr', field: m[1], symbol: /^p[sSB]/.test(conv) };
    return {
      kind: 'num',
      field: m[1],
      radix: /[xX]$/.test(conv) ? 16 : 10,
      signed: /[di]$/.test(conv),
    };
  }
  m = /^__get_str\((\w+)\)$/.exec(e);
  if (m) return { kind: 'str', field: m[1] };
  m = /^__print_symbolic\(\s*REC->(\w+)/.exec(e);
  if (m) return { kind: 'symbolic', field: m[1], table: symbolicTable(e) };
  m = /__print_flags\(\s*REC->(\w+)/.exec(e);
  if (m) return { kind: 'flags', field: m[1] };
  // REC->flags & 0x0001u ? "M" : " "
  m = /^REC->(\w+)\s*&\s*((?:0x)?[0-9a-fA-F]+)[uUlL]*\s*\?\s*"([^"]*)"\s*:\s*"([^"]*)"$/.exec(e);
  if (m) return { kind: 'bit', field: m[1], mask: BigInt(m[2]), on: m[3], off: m[4] };
  // REC->write ? "true" : "false"
  m = /^REC->(\w+)\s*\?\s*"([^"]*)"\s*:\s*"([^"]*)"$/.exec(e);
  if (m) return { kind: 'bit', field: m[1], mask: -1n, on: m[2], off: m[3] };
  // cond ? REC->x : 0  (mm_page_alloc's pfn)
  m = /\?\s*REC->(\w+)\s*:/.exec(e);
  if (m) return classify(`REC->${m[1]}`, conv);
  return { kind: 'skip' };
}

const CONV = /%([-+ #0]*)(\*|\d+)?(?:\.(\d+|\*))?(hh|h|ll|l|L|z|j|t)?([diouxXcsp])([a-zA-Z]*)/y;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * What a print fmt's text is made of, in order: literal text (as the fmt has it) and the captures
 * of its conversions, each with the shape of text it takes. The regex (compileFormat) and the
 * byte matcher (format-bytes.ts) are both built from these, so they read the same text alike.
 */
export type Piece =
  | { lit: string }
  /** bit: `on`, `off` or nothing; lazy: any text up to what follows; rest: all that is left;
   *  nonspace: `\S*`; char: one character or none; num: `\s*` then `-?(0x)?[0-9a-fA-F]+`. */
  | { cap: 'bit'; on: string; off: string }
  | { cap: 'lazy' | 'rest' | 'nonspace' | 'char' | 'num' };

/** A literal's regex: runs of spaces as `\s*` and a trailing `name:` or `name=` as either. */
function literalRegex(lit: string): string {
  // Kernel and libtraceevent agree on literal text except runs of spaces, and libtraceevent
  // prints some `name:%d` pairs as `name=%d` (tlb_flush); be lenient there.
  return escapeRe(lit)
    .replace(/ +/g, '\\s*')
    .replace(/(\w)[:=]$/, '$1[:=]');
}

function regexOf(pieces: Piece[]): RegExp {
  let re = '^';
  for (const p of pieces) {
    if ('lit' in p) re += literalRegex(p.lit);
    else if (p.cap === 'bit') re += `(${escapeRe(p.on)}|${escapeRe(p.off)})?`;
    else if (p.cap === 'lazy') re += '([^]*?)';
    else if (p.cap === 'rest') re += '([^]*)';
    else if (p.cap === 'nonspace') re += '(\\S*)';
    else if (p.cap === 'char') re += '([^]?)';
    else re += '\\s*(-?(?:0x)?[0-9a-fA-F]+)';
  }
  return new RegExp(re + '\\s*$');
}

/** Compiles a print fmt into a regex whose groups are the conversions, in order. */
export function compileFormat(format: EventFormat): CompiledFormat {
  const fmt = format.printFmt;
  const captures: Capture[] = [];
  const conversions: CompiledFormat['conversions'] = [];
  const pieces: Piece[] = [];
  let argi = 0;
  let i = 0;
  let lit = '';
  const flushLit = () => {
    if (lit) pieces.push({ lit });
    lit = '';
  };
  while (i < fmt.length) {
    const c = fmt[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (fmt[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    CONV.lastIndex = i;
    const m = CONV.exec(fmt);
    if (!m) {
      lit += c;
      i++;
      continue;
    }
    if (m[2] === '*') argi++;
    if (m[3] === '*') argi++;
    let conv = m[5];
    // %pS, %ps, %pK...: the pointer extension letters belong to the conversion.
    let ext = '';
    if (conv === 'p') {
      const em = /^[a-zA-Z]+/.exec(m[6]);
      ext = em ? em[0] : '';
    }
    i = CONV.lastIndex - (m[6].length - ext.length);
    conv += ext;
    flushLit();
    const arg = format.printArgs[argi++] ?? '';
    const cap = classify(arg, conv);
    captures.push(cap);
    conversions.push({ conv, arg });
    const last = i >= fmt.length;
    if (cap.kind === 'bit') {
      // A trailing " " alternative may have been trimmed by whoever saved the text.
      pieces.push({ cap: 'bit', on: cap.on, off: cap.off });
    } else if (
      conv === 's' ||
      cap.kind === 'skip' ||
      cap.kind === 'symbolic' ||
      cap.kind === 'flags'
    ) {
      pieces.push({ cap: last ? 'rest' : 'lazy' });
    } else if (conv.startsWith('p')) {
      pieces.push({ cap: 'nonspace' });
    } else if (conv === 'c') {
      pieces.push({ cap: 'char' });
    } else {
      pieces.push({ cap: 'num' });
    }
  }
  flushLit();

  const columns: CompiledFormat['columns'] = [];
  for (const f of format.fields) {
    const caps = captures.filter((c) => c.kind !== 'skip' && c.field === f.name);
    if (!caps.length) continue;
    const numeric = caps.some(
      (c) => c.kind === 'num' || c.kind === 'ptr' || c.kind === 'bit' || c.kind === 'symbolic',
    );
    // A field printed with %d/%ld reads as signed whatever its C type (tlb_flush's pages:-1).
    const printedSigned = caps.some((c) => c.kind === 'num' && c.signed);
    columns.push({
      name: f.name,
      type: numeric ? sqlTypeOf(printedSigned ? { ...f, signed: true } : f) : 'VARCHAR',
      field: f,
    });
    if (caps.some((c) => c.kind === 'symbolic' || c.kind === 'flags')) {
      if (numeric) columns.push({ name: `${f.name}_name`, type: 'VARCHAR', field: null });
    }
    if (caps.some((c) => c.kind === 'ptr' && c.symbol))
      columns.push({ name: `${f.name}_sym`, type: 'VARCHAR', field: null });
  }
  return { format, regex: regexOf(pieces), pieces, captures, conversions, columns };
}

export type FieldValue = bigint | number | string | boolean | null;

/**
 * Text to a column value of the given type; null when it is not a number of that radix. With
 * `numbers`, a BIGINT or UBIGINT value whose magnitude is below 2^53 comes as a Number (exact;
 * making a BigInt costs more than parsing the digits), and so does a kernel address (kernelHalf:
 * the negative Number of its 64 bits).
 */
export function toValue(text: string, radix: 10 | 16, type: SqlType, numbers = false): FieldValue {
  if (type === 'VARCHAR') return text;
  const n = smallInt(text, radix);
  if (n === n) return smallValue(n, type, numbers);
  if (type === 'BIGINT' || type === 'UBIGINT') {
    if (numbers) {
      const w = kernelHalf(text, radix);
      if (w === w) return w;
      // Any other `0x` and 16 digits at most (an address, a PTE): BigInt reads it as it stands.
      if (type === 'UBIGINT' && isHex0x(text)) return BigInt(text);
    }
    const v = parseInt64(text, radix);
    return v === null ? null : type === 'BIGINT' ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
  }
  const v = parseInt64(text, radix);
  if (v === null) return null;
  if (type === 'BOOLEAN') return v !== 0n;
  const bits = type === 'SMALLINT' ? 16 : 32;
  return Number(type === 'UINTEGER' ? BigInt.asUintN(bits, v) : BigInt.asIntN(bits, v));
}

/** toValue of text whose smallInt() is `n` (not NaN), for a type other than VARCHAR. */
export function smallValue(n: number, type: SqlType, numbers: boolean): FieldValue {
  // Below 2^53 a Number is exact and wraps like BigInt.asIntN/asUintN through JS's int32 ops.
  switch (type) {
    case 'BIGINT':
      return numbers ? n : BigInt(n);
    case 'UBIGINT':
      // With `numbers` a negative n stands for its 64 bits (2^64 + n, at least 2^64 - 2^53).
      return numbers ? n : n < 0 ? BigInt.asUintN(64, BigInt(n)) : BigInt(n);
    case 'INTEGER':
      return n | 0;
    case 'UINTEGER':
      return n >>> 0;
    case 'SMALLINT':
      return (n << 16) >> 16;
    case 'BOOLEAN':
      return n !== 0;
    case 'VARCHAR':
      throw new Error('smallValue: a VARCHAR keeps its text');
  }
}

/**
 * parseInt64's value as a Number for plain `[-][0x]DIGITS` text of at most 13 hex or 15 decimal
 * digits (always below 2^53, so exact); NaN for anything else, which parseInt64 then reads.
 */
function smallInt(s: string, radix: 10 | 16): number {
  let i = 0;
  const neg = s.charCodeAt(0) === 45; /* - */
  if (neg) i++;
  if (s.charCodeAt(i) === 48 /* 0 */ && (s.charCodeAt(i + 1) | 0x20) === 120 /* x */) {
    i += 2;
    radix = 16;
  }
  if (i === s.length) return NaN;
  // Leading zeros (a hashed pointer: 00000000dc573416) do not count.
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++;
  const digits = s.length - i;
  if (digits > (radix === 16 ? 13 : 15)) return NaN;
  let v = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (radix === 16 && (c | 0x20) >= 97 && (c | 0x20) <= 102) d = (c | 0x20) - 87;
    else return NaN;
    v = v * radix + d;
  }
  return neg ? -v : v;
}

/** smallInt() of the ASCII text in bytes [s, e). */
export function smallIntBytes(b: Uint8Array, s: number, e: number, radix: 10 | 16): number {
  let i = s;
  const neg = i < e && b[i] === 45; /* - */
  if (neg) i++;
  if (i + 1 < e && b[i] === 48 /* 0 */ && (b[i + 1] | 0x20) === 120 /* x */) {
    i += 2;
    radix = 16;
  }
  if (i === e) return NaN;
  while (i < e - 1 && b[i] === 48) i++;
  if (e - i > (radix === 16 ? 13 : 15)) return NaN;
  let v = 0;
  for (; i < e; i++) {
    const c = b[i];
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (radix === 16 && (c | 0x20) >= 97 && (c | 0x20) <= 102) d = (c | 0x20) - 87;
    else return NaN;
    v = v * radix + d;
  }
  return neg ? -v : v;
}

/**
 * A 64-bit hex value of the kernel's upper half (`ffff888104b1c000`, ≥ 2^64 - 2^53: its
 * addresses) as the negative Number with the same 64 bits, exact, which the loader stores as
 * those bits in a BIGINT or UBIGINT column without a BigInt. NaN for anything else.
 */
function kernelHalf(s: string, radix: 10 | 16): number {
  let i = 0;
  if (s.charCodeAt(0) === 48 /* 0 */ && (s.charCodeAt(1) | 0x20) === 120 /* x */) i = 2;
  else if (radix !== 16) return NaN;
  if (s.length - i !== 16) return NaN;
  const hi = hex8(s, i);
  const lo = hex8(s, i + 8);
  // The value is at least 2^64 - 2^53 when hi | 0 is at least -2^21.
  if (hi !== hi || lo !== lo || (hi | 0) >= 0 || (hi | 0) < -0x200000) return NaN;
  return (hi | 0) * 2 ** 32 + lo;
}

/** kernelHalf() of the ASCII text in bytes [s, e): the byte matcher's, without a string. */
export function kernelHalfBytes(b: Uint8Array, s: number, e: number, radix: 10 | 16): number {
  const i = hex16At(b, s, e, radix);
  if (i < 0) return NaN;
  const hi = hex8Bytes(b, i);
  const lo = hex8Bytes(b, i + 8);
  if (hi !== hi || lo !== lo || (hi | 0) >= 0 || (hi | 0) < -0x200000) return NaN;
  return (hi | 0) * 2 ** 32 + lo;
}

/**
 * toValue() of 16 hex digits in bytes [s, e) (with or without `0x`; radix 16) for a BIGINT or
 * UBIGINT column, where kernelHalfBytes gives NaN (an LA57 kernel's addresses, `ff11...`, a PTE):
 * the BigInt built from its two 32-bit halves, without a string. null for anything else.
 */
export function wide64Bytes(
  b: Uint8Array,
  s: number,
  e: number,
  radix: 10 | 16,
  signed: boolean,
): bigint | null {
  const i = hex16At(b, s, e, radix);
  if (i < 0) return null;
  const hi = hex8Bytes(b, i);
  const lo = hex8Bytes(b, i + 8);
  if (hi !== hi || lo !== lo) return null;
  return (BigInt(signed ? hi | 0 : hi) << 32n) + BigInt(lo);
}

/** Where 16 hex digits filling [s, e) start (after `0x`, which radix 10 needs), else -1. */
function hex16At(b: Uint8Array, s: number, e: number, radix: 10 | 16): number {
  let i = s;
  if (e - i >= 2 && b[i] === 48 /* 0 */ && (b[i + 1] | 0x20) === 120 /* x */) i += 2;
  else if (radix !== 16) return -1;
  return e - i === 16 ? i : -1;
}

/** Eight hex digits at b[i..], NaN if any is not one. */
function hex8Bytes(b: Uint8Array, i: number): number {
  let v = 0;
  for (let k = i; k < i + 8; k++) v = v * 16 + hexDigit(b[k]);
  return v;
}

/** A hex digit's value from its character code, NaN for any other character. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  // The letter test folds case (| 0x20); the digit test must not (0x10 | 0x20 is "0").
  if ((c | 0x20) >= 97 && (c | 0x20) <= 102) return (c | 0x20) - 87;
  return NaN;
}

/** `0x` and 1 to 16 hex digits. */
function isHex0x(s: string): boolean {
  if (s.length < 3 || s.length > 18 || s.charCodeAt(0) !== 48 || s.charCodeAt(1) !== 120)
    return false;
  for (let k = 2; k < s.length; k++) if (Number.isNaN(hexDigit(s.charCodeAt(k)))) return false;
  return true;
}

/** Eight hex digits at s[i..], NaN if any is not one. */
function hex8(s: string, i: number): number {
  let v = 0;
  for (let k = i; k < i + 8; k++) v = v * 16 + hexDigit(s.charCodeAt(k));
  return v;
}

/**
 * Builds the function that parses one event's text into `out` (column order of cf.columns).
 * Returns false when the text does not fit the print fmt. With `numbers`, BIGINT and UBIGINT
 * values below 2^53 in magnitude and kernel addresses come as Numbers (see toValue), else always
 * as BigInts.
 */
export function makeExtractor(
  cf: CompiledFormat,
  numbers = false,
): (text: string, out: FieldValue[]) => boolean {
  const fill = makeRowFiller(cf, numbers);
  return (text, out) => {
    const m = cf.regex.exec(text);
    if (!m) return false;
    fill(m, 1, out);
    return true;
  };
}

/**
 * A conversion's text as matched (undefined: an optional one absent), or for a number the byte
 * matcher already read, its smallInt() value (format-bytes.ts).
 */
export type Captured = string | number | undefined;

/**
 * Fills `out` (column order of cf.columns) from the captures at caps[base], caps[base + 1], ...:
 * how the regex's groups and the byte matcher's captures alike become values.
 */
export function makeRowFiller(
  cf: CompiledFormat,
  numbers: boolean,
): (caps: ArrayLike<Captured>, base: number, out: FieldValue[]) => void {
  const col = new Map(cf.columns.map((c, i) => [c.name, i]));
  // One flat shape for every step (not the Capture kinds' several): the filler runs per event.
  const steps = cf.captures.map((cap) => {
    const i = cap.kind === 'skip' ? undefined : col.get(cap.field);
    const field = cap.kind === 'skip' ? '' : cap.field;
    const ni = col.get(`${field}_name`) ?? col.get(`${field}_sym`);
    const type = i === undefined ? ('VARCHAR' as SqlType) : cf.columns[i].type;
    return {
      kind: cap.kind,
      i: i ?? -1,
      ni: ni ?? -1,
      type,
      radix: cap.kind === 'num' ? cap.radix : 16,
      // A symbolic field's values, converted once.
      symbols:
        cap.kind === 'symbolic'
          ? new Map(
              [...cap.table].map(([name, n]) => [name, toValue(String(n), 10, type, numbers)]),
            )
          : null,
      on: cap.kind === 'bit' ? cap.on : '',
      mask: cap.kind === 'bit' ? (cap.mask === -1n ? 1n : cap.mask) : 0n,
      bit: cap.kind === 'bit' ? (cap.mask === -1n ? 1 : Number(cap.mask & 0x7fffffffn)) : 0,
      nullPtr: i === undefined ? null : toValue('0', 16, type, numbers),
    };
  });
  const bitFields = [
    ...new Set(
      cf.captures
        .filter((c) => c.kind === 'bit')
        .map((c) => col.get((c as { field: string }).field)!),
    ),
  ];
  const bitTypes = bitFields.map((b) => cf.columns[b].type);
  // Flag bits gather in a Number when every mask is one of the low 31 bits (or a bool's -1).
  const smallBits =
    numbers &&
    cf.captures.every(
      (c) => c.kind !== 'bit' || c.mask === -1n || (c.mask > 0n && c.mask < 1n << 31n),
    );
  return (caps, base, out) => {
    for (let c = 0; c < out.length; c++) out[c] = null;
    for (let j = 0; j < bitFields.length; j++) out[bitFields[j]] = smallBits ? 0 : 0n;
    for (let k = 0; k < steps.length; k++) {
      const st = steps[k];
      if (st.i < 0) continue;
      const c = caps[base + k];
      if (typeof c === 'number') {
        // Only a num's or ptr's text that smallInt reads, for a column that is no VARCHAR.
        if (st.kind === 'ptr' || out[st.i] === null) out[st.i] = smallValue(c, st.type, numbers);
        continue;
      }
      const s = c ?? '';
      switch (st.kind) {
        case 'num':
          if (out[st.i] === null) out[st.i] = toValue(s, st.radix, st.type, numbers);
          break;
        case 'ptr':
          out[st.i] = s === '(null)' ? st.nullPtr : toValue(s, 16, st.type, numbers);
          // A symbol has no address in the text: keep its name.
          if (st.ni >= 0 && out[st.i] === null) out[st.ni] = s;
          break;
        case 'str':
          out[st.i] = s;
          break;
        case 'symbolic': {
          if (st.ni >= 0) out[st.ni] = s;
          const v = st.symbols!.get(s);
          if (out[st.i] === null && v !== undefined) out[st.i] = v;
          break;
        }
        case 'flags':
          if (st.ni >= 0) out[st.ni] = s;
          if (st.type === 'VARCHAR') out[st.i] = s;
          break;
        case 'bit':
          if (s === st.on) {
            if (smallBits) out[st.i] = (out[st.i] as number) | st.bit;
            else out[st.i] = (out[st.i] as bigint) | st.mask;
          }
          break;
      }
    }
    for (let j = 0; j < bitFields.length; j++) {
      const b = bitFields[j];
      out[b] = smallBits
        ? coerceSmallBits(out[b] as number, bitTypes[j])
        : coerceBits(out[b] as bigint, bitTypes[j]);
    }
  };
}

function coerceBits(v: bigint, type: SqlType): FieldValue {
  if (type === 'BOOLEAN') return v !== 0n;
  if (type === 'BIGINT' || type === 'UBIGINT') return v;
  if (type === 'VARCHAR') return String(v);
  return Number(v);
}

/** coerceBits for bits gathered in a Number (31 bits at most, so never negative). */
function coerceSmallBits(v: number, type: SqlType): FieldValue {
  if (type === 'BOOLEAN') return v !== 0;
  if (type === 'VARCHAR') return String(v);
  return v;
}

/** Parses decimal or hex text (with or without 0x) exactly, as a BigInt. */
export function parseInt64(s: string, radix: 10 | 16): bigint | null {
  if (!s) return null;
  let neg = false;
  let t = s.trim();
  if (t[0] === '-') {
    neg = true;
    t = t.slice(1);
  }
  if (t.startsWith('0x') || t.startsWith('0X')) {
    t = t.slice(2);
    radix = 16;
  }
  if (!t) return null;
  let v: bigint;
  try {
    v = BigInt(radix === 16 ? '0x' + t : t);
  } catch {
    return null;
  }
  return neg ? -v : v;
}
