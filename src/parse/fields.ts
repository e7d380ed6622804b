// Turns an event's printed fields into typed values, per event: tracefs syscall shapes, kprobes,
// and everything else through its compiled print fmt.
import type { Catalogue } from './catalogue.js';
import { makeExtractor, parseInt64, type CompiledFormat, type FieldValue, type SqlType } from './format.js';

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
   * magnitude may come as Numbers instead of BigInts (each of which costs ~100 ns to make).
   * The row is reused by the next call.
   */
  extractRow(body: string): FieldValue[] | string;
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
      return typeof v === 'bigint' ? v !== 0n : typeof v === 'string' ? v === 'true' || v === '1' : Boolean(v);
    case 'BIGINT':
      return typeof v === 'bigint' ? BigInt.asIntN(64, v) : typeof v === 'number' ? BigInt(v) : null;
    case 'UBIGINT':
      return typeof v === 'bigint' ? BigInt.asUintN(64, v) : typeof v === 'number' ? BigInt(v) : null;
    case 'INTEGER':
      return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : typeof v === 'number' ? v : null;
    case 'UINTEGER':
      return typeof v === 'bigint' ? Number(BigInt.asUintN(32, v)) : typeof v === 'number' ? v : null;
    case 'SMALLINT':
      return typeof v === 'bigint' ? Number(BigInt.asIntN(16, v)) : typeof v === 'number' ? v : null;
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
        for (let m; (m = SYS_ARG.exec(body)); ) vals.set(m[1], parseInt64(m[2], 16));
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
function printFmtExtractor(cf: CompiledFormat, numbers = false): (body: string) => FieldValue[] | string {
  const extract = makeExtractor(cf, numbers);
  const row: FieldValue[] = new Array(cf.columns.length).fill(null);
  const reason = `fields do not match print fmt "${cf.format.printFmt}"`;
  return (body) => (extract(body, row) ? row : reason);
}

/** `(func+0x0/0x1f0) a=1` or, for a return probe, `(caller+0x4c/0x90 <- func) ret=0`. */
const KPROBE_HEAD = /^\((\S+?)(?:\+0x[0-9a-fA-F]+\/0x[0-9a-fA-F]+)?(?: <- (\S+?))?\)\s*/;
const KV = /([\w.]+)=("(?:[^"\\]|\\.)*"|\{[^}]*\}|\S*)/g;

export function parseKprobeBody(body: string): { func: string; caller: string | null; args: Map<string, string> } | null {
  const m = KPROBE_HEAD.exec(body);
  if (!m) return null;
  const args = new Map<string, string>();
  KV.lastIndex = m[0].length;
  for (let a; (a = KV.exec(body)); ) args.set(a[1], a[2]);
  return m[2] ? { func: m[2], caller: m[1], args } : { func: m[1], caller: null, args };
}

function kprobeSpec(cf: CompiledFormat, event: string, table: string): TableSpec {
  const fields = cf.format.fields.filter((f) => !f.name.startsWith('__probe_'));
  const columns: Column[] = [
    { name: 'func', type: 'VARCHAR' },
    { name: 'caller', type: 'VARCHAR' },
    ...fields.map((f) => ({
      name: f.name,
      type: (/\[/.test(f.ctype) || /char/.test(f.ctype) ? 'VARCHAR' : f.signed ? 'BIGINT' : 'UBIGINT') as SqlType,
    })),
    // The probe's addresses (`__probe_ip`; a return probe's `__probe_func`, `__probe_ret_ip`):
    // binary traces carry them, text prints symbols instead, so they are NULL from text.
    ...cf.format.fields.filter((f) => f.name.startsWith('__probe_')).map((f) => ({ name: f.name, type: 'UBIGINT' as SqlType })),
  ];
  const spec: TableSpec = {
    table,
    event,
    columns,
    extractRow: (body) => spec.extract(body),
    extract(body) {
      const k = parseKprobeBody(body);
      if (!k) return 'expected `(SYMBOL+OFF/SIZE) NAME=VALUE...` or `(CALLER <- SYMBOL) ...`';
      const out: FieldValue[] = [k.func, k.caller];
      for (let i = 2; i < columns.length; i++) {
        const c = columns[i];
        const s = k.args.get(c.name);
        out.push(s === undefined ? null : c.type === 'VARCHAR' ? s : coerce(parseInt64(s, /^-?\d+$/.test(s) ? 10 : 16), c.type));
      }
      return out;
    },
  };
  return spec;
}

export class FieldTyper {
  private specs = new Map<string, TableSpec | null>();
  constructor(private readonly catalogue: Catalogue) {}

  spec(event: string): TableSpec | null {
    let s = this.specs.get(event);
    if (s !== undefined) return s;
    const cf = this.catalogue.compiledFormat(event);
    const table = tableName(event);
    if (!cf) s = null;
    else if (event.startsWith('syscalls:')) s = syscallSpec(cf, table);
    else if (cf.format.fields.some((f) => f.name.startsWith('__probe_'))) s = kprobeSpec(cf, event, table);
    else {
      const columns = cf.columns.map(({ name, type }) => ({ name, type }));
      s = { table, event, columns, extract: printFmtExtractor(cf), extractRow: printFmtExtractor(cf, true) };
    }
    this.specs.set(event, s);
    return s;
  }
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
  for (const m of body.matchAll(/([A-Za-z_][\w.]*)(?:=|: ?)("(?:[^"\\]|\\.)*"|\{[^}]*\}|[^\s,]*)/g)) out[m[1]] = m[2];
  return out;
}
