// Turns an event's printed fields into typed values, per event: tracefs syscall shapes, kprobes,
// and everything else through its compiled print fmt.
import type { Catalogue } from './catalogue.js';
import { makeByteExtractor } from './format-bytes.js';
import { kprobeByteExtractor } from './kprobe-bytes.js';
import {
  makeExtractor,
  parseInt64,
  toValue,
  type CompiledFormat,
  type FieldValue,
  type SqlType,
} from './format.js';

export interface Column {
  name: string;
  type: SqlType;
}

export interface TableSpec {
  /** DuckDB table name: `<system>_<event>`. */
  table: string;
  event: string;
  columns: Column[];
  /** Values in column order, or a reason why the text does not fit. */
  extract(body: string): FieldValue[] | string;
  /**
   * extract() for the loader, which takes a Number for a BIGINT/UBIGINT: values below 2^53 in
   * magnitude may come as Numbers instead of BigInts (each of which costs ~100 ns to make), and
   * a value of 2^64 - 2^53 or more as the negative Number of the same 64 bits (a kernel address).
   * The row is reused by the next call.
   */
  extractRow(body: string): FieldValue[] | string;
  /**
   * extractRow() over the bytes [s, e) of a body of printable ASCII, where the spec has a byte
   * matcher (format-bytes.ts): its row, or null where only the text's extractRow can tell.
   */
  extractBytes?(b: Buffer, s: number, e: number): FieldValue[] | null;
}

export function tableName(event: string): string {
  return event.replace(/[^A-Za-z0-9_]+/g, '_').toLowerCase();
}

export function coerce(v: FieldValue, type: SqlType): FieldValue {
  if (v === null) return null;
  switch (type) {
    case 'VARCHAR':
      return typeof v === 'string' ? v : String(v);
    case 'BOOLEAN':
      return typeof v === 'bigint'
        ? v !== 0n
        : typeof v === 'string'
          ? v === 'true' || v === '1'
          : Boolean(v);
    case 'BIGINT':
      return typeof v === 'bigint'
        ? BigInt.asIntN(64, v)
        : typeof v === 'number'
          ? BigInt(v)
          : null;
    case 'UBIGINT':
      return typeof v === 'bigint'
        ? BigInt.asUintN(64, v)
        : typeof v === 'number'
          ? BigInt(v)
          : null;
    case 'INTEGER':
      return typeof v === 'bigint'
        ? Number(BigInt.asIntN(32, v))
        : typeof v === 'number'
          ? v
          : null;
    case 'UINTEGER':
      return typeof v === 'bigint'
        ? Number(BigInt.asUintN(32, v))
        : typeof v === 'number'
          ? v
          : null;
    case 'SMALLINT':
      return typeof v === 'bigint'
        ? Number(BigInt.asIntN(16, v))
        : typeof v === 'number'
          ? v
          : null;
  }
}

/** tracefs prints syscall arguments as `(name: value, ...)`; values are hex (`0x` only from 6.17). */
const SYS_ARG = /(\w+): (?:0x)?([0-9a-fA-F]+)(?: "(?:[^"\\]|\\.)*")?/g;

function syscallSpec(cf: CompiledFormat, table: string): TableSpec {
  const fields = cf.format.fields.filter((f) => f.name !== '__syscall_nr');
  const columns = cf.columns.map(({ name, type }) => ({ name, type }));
  const isExit = cf.format.name.startsWith('sys_exit_');
  const viaPrintFmt = printFmtExtractor(cf);
  const spec: TableSpec = {
    table,
    event: `syscalls:${cf.format.name}`,
    columns,
    extractRow: (body) => spec.extract(body),
    extract(body) {
      if (body.charCodeAt(0) === 40 /* ( */) {
        const vals = new Map<string, FieldValue>();
        SYS_ARG.lastIndex = 0;
        for (let m; (m = SYS_ARG.exec(body));) vals.set(m[1], parseInt64(m[2], 16));
        return columns.map((c) => (vals.has(c.name) ? coerce(vals.get(c.name)!, c.type) : null));
      }
      if (isExit && fields.length === 1) {
        const v = parseInt64(body.trim(), 16);
        if (v === null) return `expected a return value, got "${body}"`;
        return [coerce(v, columns[0].type)];
      }
      // The print fmt does not print __syscall_nr, so its columns are exactly `columns`.
      return viaPrintFmt(body);
    },
  };
  return spec;
}

/** The print-fmt extractor over one reused row (the loader copies values out at once). */
function printFmtExtractor(
  cf: CompiledFormat,
  numbers = false,
): (body: string) => FieldValue[] | string {
  const extract = makeExtractor(cf, numbers);
  const row: FieldValue[] = new Array(cf.columns.length).fill(null);
  const reason = `fields do not match print fmt "${cf.format.printFmt}"`;
  return (body) => (extract(body, row) ? row : reason);
}

/** `(func+0x0/0x1f0) a=1` or, for a return probe, `(caller+0x4c/0x90 <- func) ret=0`. */
const KPROBE_HEAD = /^\((\S+?)(?:\+0x[0-9a-fA-F]+\/0x[0-9a-fA-F]+)?(?: <- (\S+?))?\)\s*/;
const KV = /([\w.]+)=("(?:[^"\\]|\\.)*"|\{[^}]*\}|\S*)/g;

/** An address as the print fmt `%lx` writes it (trace-cmd report, perf script): hex without 0x. */
const BARE_HEX = /^[0-9a-f]{8,16}$/;

/**
 * The probed function (a symbol, or an address where the tool printed no symbol), the caller a
 * return probe returns to, and the fetch args as printed. tracefs prints a return probe as
 * `(caller <- func)`; the print fmt that trace-cmd and perf use prints `(func_addr <- ret_ip)`
 * (kernel/trace/trace_kprobe.c __set_print_fmt).
 */
export function parseKprobeBody(
  body: string,
): { func: string; caller: string | null; args: Map<string, string> } | null {
  const m = KPROBE_HEAD.exec(body);
  if (!m) return null;
  const args = new Map<string, string>();
  KV.lastIndex = m[0].length;
  for (let a; (a = KV.exec(body));) args.set(a[1], a[2]);
  if (!m[2]) return { func: m[1], caller: null, args };
  return BARE_HEX.test(m[1]) && BARE_HEX.test(m[2])
    ? { func: m[1], caller: m[2], args }
    : { func: m[2], caller: m[1], args };
}

/** A kprobe fetch type's column: strings, symbols and arrays as text, signed or unsigned integers. */
function kprobeColumnType(type: string | null, printed: string): SqlType {
  if (type) {
    if (/\[|string|symbol|ustring/.test(type)) return 'VARCHAR';
    if (/^s\d/.test(type)) return 'BIGINT';
    if (/^[ux]\d|^b\d/.test(type)) return 'UBIGINT';
  }
  if (/^0x[0-9a-fA-F]+$/.test(printed)) return 'UBIGINT';
  if (/^-?\d+$/.test(printed)) return 'BIGINT';
  return 'VARCHAR';
}

/** A kprobe's args as typed values, in the order of `columns` after func and caller. */
function kprobeRow(
  columns: Column[],
  k: NonNullable<ReturnType<typeof parseKprobeBody>>,
): FieldValue[] {
  const out: FieldValue[] = [k.func, k.caller];
  for (let i = 2; i < columns.length; i++) {
    const c = columns[i];
    const s = k.args.get(c.name);
    out.push(
      s === undefined
        ? null
        : c.type === 'VARCHAR'
          ? s
          : coerce(parseInt64(s, /^-?\d+$/.test(s) ? 10 : 16), c.type),
    );
  }
  return out;
}

const KPROBE_SHAPE = 'expected `(SYMBOL+OFF/SIZE) NAME=VALUE...` or `(CALLER <- SYMBOL) ...`';

/**
 * A kprobe event without a format file: its columns are the args its first line prints, typed by
 * the probe definition where one is known, else by how the value is printed (0x... unsigned,
 * decimal signed, anything else text).
 */
export function kprobeTextSpec(
  event: string,
  firstBody: string,
  types: Map<string, string | null> = new Map(),
): TableSpec | null {
  const k = parseKprobeBody(firstBody);
  if (!k) return null;
  return kprobeTable(
    event,
    tableName(event),
    [...k.args].map(([name, v]) => ({ name, type: kprobeColumnType(types.get(name) ?? null, v) })),
  );
}

function kprobeSpec(cf: CompiledFormat, event: string, table: string): TableSpec {
  const fields = cf.format.fields.filter((f) => !f.name.startsWith('__probe_'));
  return kprobeTable(event, table, [
    ...fields.map((f) => ({
      name: f.name,
      type: (/\[/.test(f.ctype) || /char/.test(f.ctype)
        ? 'VARCHAR'
        : f.signed
          ? 'BIGINT'
          : 'UBIGINT') as SqlType,
    })),
    // The probe's addresses (`__probe_ip`; a return probe's `__probe_func`, `__probe_ret_ip`):
    // binary traces carry them, text prints symbols instead, so they are NULL from text.
    ...cf.format.fields
      .filter((f) => f.name.startsWith('__probe_'))
      .map((f) => ({ name: f.name, type: 'UBIGINT' as SqlType })),
  ]);
}

/** A kprobe's table: the probed function and caller as printed, then its args. */
function kprobeTable(event: string, table: string, args: Column[]): TableSpec {
  const columns: Column[] = [
    { name: 'func', type: 'VARCHAR' },
    { name: 'caller', type: 'VARCHAR' },
    ...args,
  ];
  return {
    table,
    event,
    columns,
    extractRow: kprobeRowExtractor(columns),
    extractBytes: kprobeByteExtractor(columns),
    extract(body) {
      const k = parseKprobeBody(body);
      return k ? kprobeRow(columns, k) : KPROBE_SHAPE;
    },
  };
}

/**
 * extract() of a kprobe table for the loader, over one reused row: the values as parseKprobeBody
 * and kprobeRow give them, without a Map per line, and as Numbers below 2^53 (toValue), not
 * BigInts: kprobe events are most of a lab trace's lines.
 */
function kprobeRowExtractor(columns: Column[]): (body: string) => FieldValue[] | string {
  const index = new Map(columns.slice(2).map((c, i) => [c.name, i + 2]));
  const row: FieldValue[] = new Array(columns.length).fill(null);
  const printed: (string | undefined)[] = new Array(columns.length);
  return (body) => {
    const m = KPROBE_HEAD.exec(body);
    if (!m) return KPROBE_SHAPE;
    if (!m[2]) {
      row[0] = m[1];
      row[1] = null;
    } else if (BARE_HEX.test(m[1]) && BARE_HEX.test(m[2])) {
      row[0] = m[1];
      row[1] = m[2];
    } else {
      row[0] = m[2];
      row[1] = m[1];
    }
    printed.fill(undefined);
    KV.lastIndex = m[0].length;
    for (let a; (a = KV.exec(body));) {
      const i = index.get(a[1]);
      if (i !== undefined) printed[i] = a[2];
    }
    for (let i = 2; i < columns.length; i++) {
      const s = printed[i];
      const type = columns[i].type;
      row[i] =
        s === undefined
          ? null
          : type === 'VARCHAR'
            ? s
            : toValue(s, isDecimal(s) ? 10 : 16, type, true);
    }
    return row;
  };
}

/** /^-?\d+$/ */
function isDecimal(s: string): boolean {
  let i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (i === s.length) return false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

export class FieldTyper {
  private specs = new Map<string, TableSpec | null>();
  /** Events typed by another kernel's format than the first choice, with that kernel's release. */
  readonly alternateFormats = new Map<string, string>();
  constructor(private readonly catalogue: Catalogue) {}

  /**
   * The event's table spec. With the event's first line, a format whose print fmt does not fit it
   * gives way to another kernel's catalogue that does (print fmts change between releases: 6.12's
   * sched_process_exit, mmap_lock's memcg_path); a later line that fits none is parsed as
   * `name=value` pairs by column name.
   */
  spec(event: string, firstBody?: string): TableSpec | null {
    let s = this.specs.get(event);
    if (s !== undefined) return s;
    const cf = this.catalogue.compiledFormat(event);
    s = cf ? this.fromFormat(event, cf) : null;
    if (s && firstBody !== undefined && typeof s.extract(firstBody) === 'string') {
      for (const alt of this.catalogue.alternates(event)) {
        const a = this.fromFormat(event, alt.format);
        if (typeof a.extract(firstBody) !== 'string') {
          s = a;
          this.alternateFormats.set(event, alt.release);
          break;
        }
      }
    }
    if (s && !event.startsWith('syscalls:') && s.columns[0]?.name !== 'func') s = tolerant(s);
    this.specs.set(event, s);
    return s;
  }

  private fromFormat(event: string, cf: CompiledFormat): TableSpec {
    const table = tableName(event);
    if (event.startsWith('syscalls:')) return syscallSpec(cf, table);
    if (cf.format.fields.some((f) => f.name.startsWith('__probe_')))
      return kprobeSpec(cf, event, table);
    const columns = cf.columns.map(({ name, type }) => ({ name, type }));
    return {
      table,
      event,
      columns,
      extract: printFmtExtractor(cf),
      extractRow: printFmtExtractor(cf, true),
      extractBytes: makeByteExtractor(cf) ?? undefined,
    };
  }
}

/** A spec that, where the print fmt does not fit a line, takes its `name=value` pairs by column name when every column is there. */
function tolerant(spec: TableSpec): TableSpec {
  const byName = (body: string, reason: string): FieldValue[] | string => {
    const kv = genericFields(body);
    let hits = 0;
    let bad = false;
    const row = spec.columns.map((c) => {
      const v = kv[c.name];
      if (v === undefined) return null;
      hits++;
      if (c.type === 'VARCHAR') return v.replace(/^"(.*)"$/, '$1');
      if (c.type === 'BOOLEAN') return v === 'true' || v === '1';
      const n = parseInt64(v, /^0x/i.test(v) ? 16 : 10);
      // A value that is there but not a number is damage, not another kernel's shape.
      if (n === null) bad = true;
      return coerce(n, c.type);
    });
    // Every field by name (printed in another order or shape), or it is damage, not this event.
    return !bad && hits === spec.columns.length && hits > 0 ? row : reason;
  };
  return {
    ...spec,
    extract: (body) => {
      const r = spec.extract(body);
      return typeof r === 'string' ? byName(body, r) : r;
    },
    extractRow: (body) => {
      const r = spec.extractRow(body);
      return typeof r === 'string' ? byName(body, r) : r;
    },
  };
}

/** Name/value pairs of an event nobody typed: `k=v`, `k: v` and `k:v` forms. */
export function genericFields(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const k = parseKprobeBody(body);
  if (k) {
    out.__func = k.func;
    if (k.caller) out.__caller = k.caller;
    for (const [a, v] of k.args) out[a] = v;
    return out;
  }
  // A name starts only where no name character precedes it: a long run of them is scanned once,
  // not once per position (quadratic on a 1 MB line).
  for (const m of body.matchAll(
    /(?<![\w.])([A-Za-z_][\w.]*)(?:=|: ?)("(?:[^"\\]|\\.)*"|\{[^}]*\}|[^\s,]*)/g,
  ))
    out[m[1]] = m[2];
  return out;
}
