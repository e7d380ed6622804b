// Decodes an event's binary record into the row of its typed table: the same columns, types and
// values the text readers get from the printed text (src/parse/fields.ts), read from the fields
// at their format-file offsets instead. Where the text shows a derived value (a
// `__print_symbolic` name, a `__print_flags` string, `cond ? REC->x : 0`), the print argument is
// evaluated (print-args.ts); where it shows a kernel symbol (`%pS`), kallsyms gives it.
import type { TableSpec } from '../fields.js';
import type { CompiledFormat, FieldValue, FormatField, SqlType } from '../format.js';
import { i32be, i32le, u16be, u16le } from './bytes.js';
import type { Kallsyms } from './kallsyms.js';
import { compilePrintArg, Unevaluable, type PrintArg } from './print-args.js';
import type { BinaryFormat } from './tracing-data.js';

type Raw = number | bigint | string | null;
type Reader = (buf: Buffer, rec: number, len: number) => Raw;

const TWO32 = 0x100000000;

/** A reader of one field: numbers below 2^53 as Numbers, larger ones as BigInts, text as strings. */
export function fieldReader(f: FormatField, le: boolean): Reader {
  const o = f.offset;
  const t = f.ctype;
  const dataLoc = /^__(data|rel)_loc\b/.exec(t);
  if (dataLoc) {
    const rel = dataLoc[1] === 'rel';
    const isChar = /\bchar\b/.test(t);
    return (buf, rec, len) => {
      if (o + 4 > len) return null;
      const v = (le ? i32le(buf, rec + o) : i32be(buf, rec + o)) >>> 0;
      const off = (v & 0xffff) + (rel ? o + 4 : 0);
      const n = v >>> 16;
      if (off + n > len) return null;
      return isChar ? cString(buf, rec + off, n) : hexBytes(buf, rec + off, n);
    };
  }
  const arr = /\[(\d*)\]$/.exec(t);
  if (arr) {
    const isChar = /\bchar\b/.test(t);
    return (buf, rec, len) => {
      // `char buf[]` (size 0) runs to the end of the record.
      const n = f.size > 0 ? f.size : len - o;
      if (o + n > len) return null;
      return isChar ? cString(buf, rec + o, n) : hexBytes(buf, rec + o, n);
    };
  }
  const s = f.signed;
  switch (f.size) {
    case 1:
      return (buf, rec, len) =>
        o + 1 > len ? null : s ? (buf[rec + o] << 24) >> 24 : buf[rec + o];
    case 2:
      return (buf, rec, len) => {
        if (o + 2 > len) return null;
        const v = le ? u16le(buf, rec + o) : u16be(buf, rec + o);
        return s ? (v << 16) >> 16 : v;
      };
    case 4:
      return (buf, rec, len) => {
        if (o + 4 > len) return null;
        const v = le ? i32le(buf, rec + o) : i32be(buf, rec + o);
        return s ? v : v >>> 0;
      };
    case 8:
      return (buf, rec, len) => {
        if (o + 8 > len) return null;
        const p = rec + o;
        const lo = (le ? i32le(buf, p) : i32be(buf, p + 4)) >>> 0;
        const h = le ? i32le(buf, p + 4) : i32be(buf, p);
        const hi = s ? h : h >>> 0;
        if (hi >= -0x200000 && hi < 0x200000) return hi * TWO32 + lo;
        return s ? (BigInt(hi) << 32n) | BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
      };
  }
  return (buf, rec, len) => (o + f.size > len ? null : hexBytes(buf, rec + o, f.size));
}

/** The text up to the first NUL of n bytes (searched within them: a perf sample's buffer is the
 *  window of the file it was read in). */
function cString(buf: Buffer, at: number, n: number): string {
  let end = at;
  while (end < at + n && buf[end] !== 0) end++;
  return buf.toString('utf8', at, end);
}

function hexBytes(buf: Buffer, at: number, n: number): string {
  return buf.toString('hex', at, at + n);
}

/** A raw number as the value of a column of the given type (wrapping like a C cast). */
export function toColumn(v: Raw, type: SqlType): FieldValue {
  if (v === null) return null;
  if (typeof v === 'string') return type === 'VARCHAR' ? v : null;
  if (typeof v === 'number') {
    switch (type) {
      case 'BIGINT':
        return v;
      case 'UBIGINT':
        return v < 0 ? BigInt.asUintN(64, BigInt(v)) : v;
      case 'INTEGER':
        return v | 0;
      case 'UINTEGER':
        return v >>> 0;
      case 'SMALLINT':
        return (v << 16) >> 16;
      case 'BOOLEAN':
        return v !== 0;
      case 'VARCHAR':
        return String(v);
    }
  }
  switch (type) {
    case 'BIGINT': {
      const x = BigInt.asIntN(64, v);
      return x >= -0x1fffffffffffffn && x <= 0x1fffffffffffffn ? Number(x) : x;
    }
    case 'UBIGINT': {
      const x = BigInt.asUintN(64, v);
      return x <= 0x1fffffffffffffn ? Number(x) : x;
    }
    case 'INTEGER':
      return Number(BigInt.asIntN(32, v));
    case 'UINTEGER':
      return Number(BigInt.asUintN(32, v));
    case 'SMALLINT':
      return Number(BigInt.asIntN(16, v));
    case 'BOOLEAN':
      return v !== 0n;
    case 'VARCHAR':
      return String(v);
  }
}

const REC_ONLY =
  /^\(*\s*(?:\(\s*(?:const\s+)?(?:unsigned\s+|signed\s+|struct\s+)?[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*\s*\**\s*\)\s*)*\(*\s*REC->(\w+)\s*\)*$/;

/** Where a row goes: the column setters of the store's row builders (src/store/row-builder.ts). */
export interface RowSink {
  set(col: number, v: FieldValue): void;
  /** An INTEGER/UINTEGER column: the low 32 bits of v. */
  setI32(col: number, v: number): void;
  /** A BIGINT/UBIGINT column: an integer number below 2^53 in magnitude. */
  setI64(col: number, v: number): void;
  /** A BIGINT/UBIGINT column: its low and high 32 bits. */
  setI64Words(col: number, lo: number, hi: number): void;
}

/** An event's record as its table's row. */
export interface BinaryRow {
  /** The values, in column order (one array, reused). */
  values(buf: Buffer, rec: number, len: number): FieldValue[];
  /** Sets columns 1.. of out's current row, as values() gives them (column 0 is the id). */
  write(buf: Buffer, rec: number, len: number, out: RowSink): void;
}

type Maker = (buf: Buffer, rec: number, len: number) => FieldValue;
type Writer = (buf: Buffer, rec: number, len: number, out: RowSink) => void;

/**
 * A column that is a field's value as the column's type, written without making the value: an
 * integer field's bits into a 32- or 64-bit integer column (wrapping or sign-extending as toColumn
 * does). Other columns go through their maker.
 */
function writer(col: number, f: FormatField, type: SqlType, le: boolean, make: Maker): Writer {
  const o = f.offset;
  const wide = type === 'BIGINT' || type === 'UBIGINT';
  const narrow = type === 'INTEGER' || type === 'UINTEGER';
  const integer = !/\[|^__(data|rel)_loc\b/.test(f.ctype);
  if (!integer || !(wide || narrow))
    return (buf, rec, len, out) => out.set(col, make(buf, rec, len));
  if (f.size === 8)
    return (buf, rec, len, out) => {
      if (o + 8 > len) return out.set(col, null);
      const p = rec + o;
      // The words' bits as they are: the columns keep them in 32-bit halves.
      const lo = le ? i32le(buf, p) : i32be(buf, p + 4);
      if (narrow) return out.setI32(col, lo);
      out.setI64Words(col, lo, le ? i32le(buf, p + 4) : i32be(buf, p));
    };
  if (f.size !== 1 && f.size !== 2 && f.size !== 4)
    return (buf, rec, len, out) => out.set(col, make(buf, rec, len));
  const r = fieldReader(f, le) as (buf: Buffer, rec: number, len: number) => number | null;
  return (buf, rec, len, out) => {
    const v = r(buf, rec, len);
    if (v === null) out.set(col, null);
    else if (narrow) out.setI32(col, v);
    else out.setI64(col, v);
  };
}

/** Builds the row maker of an event's table from its binary format. */
export function binaryRow(
  spec: TableSpec,
  bf: BinaryFormat,
  cf: CompiledFormat,
  ksyms: Kallsyms | null,
  le: boolean,
): BinaryRow {
  const fields = new Map(bf.format.fields.map((f) => [f.name, f]));
  const readers = new Map<string, Reader>();
  const read = (name: string): Reader | null => {
    let r = readers.get(name);
    if (!r) {
      const f = fields.get(name);
      if (!f) return null;
      r = fieldReader(f, le);
      readers.set(name, r);
    }
    return r;
  };
  const isKprobe =
    bf.format.fields.some((f) => f.name.startsWith('__probe_')) && spec.columns[0]?.name === 'func';
  const makers: Maker[] = [];
  const writers: Writer[] = [];
  for (const [i, col] of spec.columns.entries()) {
    const m = isKprobe
      ? kprobeColumn(col.name, col.type, read, fields, ksyms, cf, le)
      : printedColumn(col.name, col.type, cf, read, fields, ksyms, le);
    // A field itself: its value as the column's type.
    const plain = typeof m === 'function' ? null : m;
    const r = plain ? read(plain.name)! : null;
    const make: Maker = r ? (buf, rec, len) => toColumn(r(buf, rec, len), col.type) : (m as Maker);
    makers.push(make);
    writers.push(
      plain
        ? writer(i + 1, plain, col.type, le, make)
        : (b, rec, len, out) => out.set(i + 1, make(b, rec, len)),
    );
  }
  const row: FieldValue[] = new Array(makers.length).fill(null);
  return {
    values: (buf, rec, len) => {
      for (let i = 0; i < makers.length; i++) row[i] = makers[i](buf, rec, len);
      return row;
    },
    write: (buf, rec, len, out) => {
      for (let i = 0; i < writers.length; i++) writers[i](buf, rec, len, out);
    },
  };
}

const none = () => null;

/**
 * `of` a number field's value, taken again only when the field's bytes differ from the previous
 * record's: a kprobe's address, a faulting ip, repeat from record to record, and naming them
 * (kallsyms) costs a BigInt and a search.
 */
function lastOf(
  f: FormatField,
  r: Reader,
  le: boolean,
  of: (v: number | bigint) => FieldValue,
): Maker {
  const slow: Maker = (buf, rec, len) => {
    const v = r(buf, rec, len);
    return v === null || typeof v === 'string' ? null : of(v);
  };
  if (f.size !== 8 || /\[|^__(data|rel)_loc\b/.test(f.ctype)) return slow;
  const o = f.offset;
  let lo = -1;
  let hi = -1;
  let last: FieldValue = null;
  return (buf, rec, len) => {
    if (o + 8 > len) return null;
    const a = (le ? i32le(buf, rec + o) : i32be(buf, rec + o)) >>> 0;
    const b = (le ? i32le(buf, rec + o + 4) : i32be(buf, rec + o + 4)) >>> 0;
    if (a !== lo || b !== hi) {
      lo = a;
      hi = b;
      last = slow(buf, rec, len);
    }
    return last;
  };
}

function kprobeColumn(
  name: string,
  type: SqlType,
  read: (n: string) => Reader | null,
  fields: Map<string, FormatField>,
  ksyms: Kallsyms | null,
  cf: CompiledFormat,
  le: boolean,
): Maker | FormatField {
  const sym = (field: string) => {
    const r = read(field);
    if (!r || !ksyms) return none;
    return lastOf(fields.get(field)!, r, le, (v) => ksyms.name(BigInt(v)));
  };
  if (name === 'func') return sym(fields.has('__probe_func') ? '__probe_func' : '__probe_ip');
  if (name === 'caller') return fields.has('__probe_ret_ip') ? sym('__probe_ret_ip') : none;
  const r = read(name);
  if (!r) return none;
  const f = fields.get(name)!;
  const arr = /^([us])(8|16|32|64)\[\d*\]$/.exec(f.ctype);
  if (arr) return kprobeArray(f, arr[1] === 's', +arr[2] / 8, cf, le);
  if (type === 'VARCHAR') {
    // Text prints kprobe strings quoted (`name="..."`), and the text readers keep the quotes.
    const quoted = /^__(data|rel)_loc\b|\bchar\b/.test(fields.get(name)!.ctype);
    return (buf: Buffer, rec: number, len: number) => {
      const v = r(buf, rec, len);
      return v === null ? null : quoted && typeof v === 'string' ? `"${v}"` : String(v);
    };
  }
  return f;
}

/** A kprobe array argument as the kernel prints it: `{0x1,0x2}` (x types) or `{1,2}`. */
function kprobeArray(
  f: FormatField,
  signed: boolean,
  width: number,
  cf: CompiledFormat,
  le: boolean,
) {
  const hex = cf.conversions.some((c) => c.arg === `REC->${f.name}[0]` && /x$/i.test(c.conv));
  const n = Math.floor(f.size / width);
  const el: FormatField = { name: f.name, ctype: 'u64', offset: 0, size: width, signed };
  return (buf: Buffer, rec: number, len: number): FieldValue => {
    if (f.offset + n * width > len) return null;
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = fieldReader({ ...el, offset: f.offset + i * width }, le)(buf, rec, len) as
        number | bigint;
      parts.push(hex ? `0x${BigInt.asUintN(width * 8, BigInt(v)).toString(16)}` : String(v));
    }
    return `{${parts.join(',')}}`;
  };
}

function printedColumn(
  name: string,
  type: SqlType,
  cf: CompiledFormat,
  read: (n: string) => Reader | null,
  fields: Map<string, FormatField>,
  ksyms: Kallsyms | null,
  le: boolean,
): Maker | FormatField {
  const caps = cf.captures.map((c, i) => ({ c, ...cf.conversions[i] }));
  const evaluator = (arg: string, want: 'string' | 'number') => {
    let pa: PrintArg;
    try {
      pa = compilePrintArg(arg);
    } catch (e) {
      if (e instanceof Unevaluable) return none;
      throw e;
    }
    const rs = new Map(pa.fields.map((f) => [f, read(f)] as const));
    const readers = [...rs.values()];
    if (readers.some((r) => !r)) return none;
    const cache = new Map<Raw, FieldValue>();
    // The record get() reads: set before each evaluation (one get, not a closure per record).
    let b: Buffer = Buffer.alloc(0);
    let at = 0;
    let n = 0;
    const get = (f: string) => {
      const r = rs.get(f)!(b, at, n);
      if (r === null) throw new Unevaluable(`no ${f}`);
      return typeof r === 'string' ? r : BigInt(r);
    };
    return (buf: Buffer, rec: number, len: number): FieldValue => {
      const key = readers.length === 1 ? readers[0]!(buf, rec, len) : undefined;
      if (key !== undefined) {
        const hit = cache.get(key);
        if (hit !== undefined) return hit;
      }
      let out: FieldValue;
      try {
        b = buf;
        at = rec;
        n = len;
        const v = pa.evaluate(get);
        out =
          typeof v === 'string'
            ? want === 'string'
              ? v
              : null
            : typeof v === 'bigint'
              ? want === 'string'
                ? String(v)
                : toColumn(v, type)
              : null;
      } catch (e) {
        if (!(e instanceof Unevaluable)) throw e;
        out = null;
      }
      if (key !== undefined && cache.size < 4096) cache.set(key, out);
      return out;
    };
  };

  // `<field>_name`: the printed name of a __print_symbolic / __print_flags field.
  // `<field>_sym`: the kernel symbol a %pS/%ps pointer printed as.
  for (const suffix of ['_name', '_sym'] as const) {
    if (!name.endsWith(suffix) || fields.has(name)) continue;
    const field = name.slice(0, -suffix.length);
    if (suffix === '_name') {
      const cap = caps.find(
        (x) => (x.c.kind === 'symbolic' || x.c.kind === 'flags') && x.c.field === field,
      );
      return cap ? evaluator(cap.arg, 'string') : none;
    }
    const cap = caps.find((x) => x.c.kind === 'ptr' && x.c.symbol && x.c.field === field);
    const r = read(field);
    if (!cap || !r || !ksyms) return none;
    const withOffset = /^p[SB]/.test(cap.conv);
    return lastOf(fields.get(field)!, r, le, (v) =>
      // A Number is below 2^53: a user-space address (a page fault's), which no symbol names.
      typeof v === 'number' && v >= 0 && v < ksyms.lowest
        ? null
        : ksyms.format(BigInt.asUintN(64, BigInt(v)), withOffset),
    );
  }

  const r = read(name);
  if (!r) return none;
  const mine = caps.filter((x) => x.c.kind !== 'skip' && (x.c as { field: string }).field === name);
  if (type === 'VARCHAR') {
    const f = fields.get(name)!;
    const stringy = /\[|^__(data|rel)_loc\b/.test(f.ctype);
    if (!stringy) {
      const printed = mine.find((x) => x.c.kind === 'flags' || x.c.kind === 'symbolic');
      if (printed) return evaluator(printed.arg, 'string');
    }
    // ftrace:print's buf ends in the newline the writer gave; the printed line does not show it.
    return (buf: Buffer, rec: number, len: number) => {
      const v = r(buf, rec, len);
      return v === null ? null : typeof v === 'string' ? v.replace(/\n$/, '') : String(v);
    };
  }
  if (mine.length && mine.every((x) => x.c.kind === 'bit')) {
    // Text keeps only the bits it printed a letter for.
    let mask = 0n;
    let any = false;
    for (const x of mine) {
      if (x.c.kind !== 'bit') continue;
      if (x.c.mask === -1n) any = true;
      else mask |= x.c.mask;
    }
    const small = mask < 1n << 31n;
    const m = Number(mask);
    return (buf: Buffer, rec: number, len: number) => {
      const v = r(buf, rec, len);
      if (v === null || typeof v === 'string') return null;
      let out: number | bigint =
        small && typeof v === 'number'
          ? ((v % TWO32) & m) >>> 0
          : BigInt.asUintN(64, BigInt(v)) & mask;
      if (any && (typeof v === 'number' ? v !== 0 : v !== 0n))
        out = typeof out === 'number' ? out | 1 : out | 1n;
      return toColumn(out, type);
    };
  }
  const derived = mine.find(
    (x) => (x.c.kind === 'num' || x.c.kind === 'ptr') && !REC_ONLY.test(x.arg),
  );
  if (derived) return evaluator(derived.arg, 'number');
  return fields.get(name)!;
}

/**
 * The latency-format flags column tracefs prints (`d.h1.`), from common_flags and
 * common_preempt_count (kernel/trace/trace_output.c, trace_print_lat_fmt).
 */
export function latencyFlags(flags: number, preempt: number): string {
  const IRQS_OFF = 0x01;
  const LAZY = 0x02;
  const NEED_RESCHED = 0x04;
  const HARDIRQ = 0x08;
  const SOFTIRQ = 0x10;
  const PREEMPT_RESCHED = 0x20;
  const NMI = 0x40;
  const BH_OFF = 0x80;
  const irqsOff =
    flags & IRQS_OFF && flags & BH_OFF ? 'D' : flags & IRQS_OFF ? 'd' : flags & BH_OFF ? 'b' : '.';
  let resched: string;
  switch (flags & (NEED_RESCHED | LAZY | PREEMPT_RESCHED)) {
    case NEED_RESCHED | LAZY | PREEMPT_RESCHED:
      resched = 'B';
      break;
    case NEED_RESCHED | PREEMPT_RESCHED:
      resched = 'N';
      break;
    case LAZY | PREEMPT_RESCHED:
      resched = 'L';
      break;
    case NEED_RESCHED | LAZY:
      resched = 'b';
      break;
    case NEED_RESCHED:
      resched = 'n';
      break;
    case PREEMPT_RESCHED:
      resched = 'p';
      break;
    case LAZY:
      resched = 'l';
      break;
    default:
      resched = '.';
  }
  const nmi = flags & NMI;
  const hard = flags & HARDIRQ;
  const soft = flags & SOFTIRQ;
  const irq = nmi && hard ? 'Z' : nmi ? 'z' : hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
  const depth = preempt & 0xf ? (preempt & 0xf).toString(16) : '.';
  const migrate = preempt & 0xf0 ? ((preempt >> 4) & 0xf).toString(16) : '.';
  return irqsOff + resched + irq + depth + migrate;
}

/**
 * The inverse of latencyFlags: the smallest common_flags and common_preempt_count that print as
 * `text` (a writer of records takes the flags column text tracefs prints); null when none does.
 */
export function latencyBits(text: string): [number, number] | null {
  for (let flags = 0; flags < 256; flags++)
    for (let preempt = 0; preempt < 256; preempt++)
      if (latencyFlags(flags, preempt) === text) return [flags, preempt];
  return null;
}
