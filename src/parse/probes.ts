// What a kprobe event probes, from whichever source a trace offers: the probe definitions
// (`kprobe_events` syntax, `perf probe -l` output, our sidecar) and the kernel's symbol table
// (`/proc/kallsyms`, System.map) that turns a printed address into a function.
import fs from 'node:fs';
import path from 'node:path';
import { TraceInputError } from './errors.js';
import { openTrace } from './input.js';
import { Kallsyms } from './binary/kallsyms.js';

/** One fetch arg of a probe definition: `start=%si:u64` is { name: 'start', fetch: '%si', type: 'u64' }. */
export interface FetchArg {
  name: string;
  fetch: string;
  type: string | null;
}

export interface ProbeDefinition {
  /** GROUP:EVENT as the trace names it (`kprobes:mder`, `probe:make_device_exclusive_range__return`). */
  event: string;
  kind: 'entry' | 'return';
  /** The probed symbol, null when the definition gives only an address (`_text+1234`, `0xffff...`). */
  func: string | null;
  /** The probed place as written (`make_device_exclusive_range+4`, `_text+1589088`). */
  target: string;
  args: FetchArg[];
  source: string;
}

// include/linux/kprobes.h, Documentation/trace/kprobetrace.rst: p[:[GRP/][EVENT]] SYM[+offs] ARGS,
// r[MAXACTIVE][:[GRP/][EVENT]] SYM[+0] ARGS; fprobe events (f:) name SYM or SYM%return.
const DEF = /^([prf])(\d*)(?::(?:([\w.-]+)\/)?([\w.-]+))?\s+(\S+)\s*(.*)$/;
// `perf probe -l`: `  probe:make_device_exclusive_range (on make_device_exclusive_range@mm/rmap.c with mm start end)`.
const PERF_LIST =
  /^\s*([\w.-]+):([\w.-]+)\s+\(on (\S+?)(?:@\S+)?(?:\s+in \S+)?(?: with (.*?))?\)\s*$/;

/** The default group of each definition kind (kernel/trace/trace_kprobe.c, trace_fprobe.c). */
const DEFAULT_GROUP: Record<string, string> = { p: 'kprobes', r: 'kprobes', f: 'fprobes' };

function splitArgs(s: string): FetchArg[] {
  const out: FetchArg[] = [];
  for (const tok of s.split(/\s+/).filter(Boolean)) {
    const eq = tok.indexOf('=');
    // BTF args may stand alone (`start`, `vmf->address`): their name is the fetch.
    const name = eq > 0 ? tok.slice(0, eq) : tok.replace(/->/g, '_').replace(/[^\w]/g, '_');
    const rest = eq > 0 ? tok.slice(eq + 1) : tok;
    // The type follows the last colon outside parentheses (`+0($arg4):x64[64]`).
    const m = /^(.*?)(?::([\w[\]]+))?$/.exec(rest)!;
    out.push({ name, fetch: m[1], type: m[2] ?? null });
  }
  return out;
}

/** Parses kprobe_events lines and `perf probe -l` lines; other lines (comments, blank) are skipped. */
export function parseProbeDefinitions(text: string, source: string): ProbeDefinition[] {
  const out: ProbeDefinition[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const d = DEF.exec(line);
    if (d) {
      const [, kind, , group, name, target, args] = d;
      let sym = target.replace(/^[\w-]+:/, '');
      let ret = kind === 'r';
      if (kind === 'f' && sym.endsWith('%return')) {
        ret = true;
        sym = sym.slice(0, -'%return'.length);
      }
      const func = /^(?:_text|_stext)\b|^0x|^[0-9a-f]{8,}$/.test(sym)
        ? null
        : sym.replace(/\+.*$/, '');
      out.push({
        event: `${group ?? DEFAULT_GROUP[kind]}:${name ?? `${kind}_${sym.replace(/\W/g, '_')}_0`}`,
        kind: ret ? 'return' : 'entry',
        func,
        target: sym,
        args: splitArgs(args),
        source,
      });
      continue;
    }
    const p = PERF_LIST.exec(raw);
    if (p) {
      const [, group, name, on, withArgs] = p;
      const func = on.replace(/[+%].*$/, '');
      out.push({
        event: `${group}:${name}`,
        kind: /%return$/.test(on) || /__return$/.test(name) ? 'return' : 'entry',
        func,
        target: on,
        // perf names args after the parameters it found in debuginfo or BTF.
        args: (withArgs ?? '')
          .split(/\s+/)
          .filter(Boolean)
          .map((a) => ({ name: a.replace(/->/g, '_'), fetch: a, type: null })),
        source,
      });
    }
  }
  return out;
}

/** Definition files conventionally kept beside a trace (or one directory up, as the lab does). */
const DEFINITION_FILES = [
  'kprobe_events',
  'kprobe_events.txt',
  'dynamic_events',
  'probes.txt',
  'perf-probe.txt',
];
const KALLSYMS_FILES = ['kallsyms', 'kallsyms.txt', 'proc-kallsyms', 'System.map'].flatMap((n) => [
  n,
  `${n}.xz`,
  `${n}.gz`,
  `${n}.zst`,
]);

function beside(tracePath: string, names: string[]): string[] {
  const dirs = [path.dirname(tracePath), path.dirname(path.dirname(tracePath))];
  const out: string[] = [];
  for (const d of dirs) {
    for (const n of names) {
      const p = path.join(d, n);
      if (fs.existsSync(p) && fs.statSync(p).isFile()) out.push(p);
    }
    // The nearest directory that has any wins: the lab keeps per-workload copies.
    if (out.length) break;
  }
  return out;
}

export function definitionsBeside(tracePath: string): string[] {
  return beside(tracePath, DEFINITION_FILES);
}

export function kallsymsBeside(tracePath: string): string | null {
  return beside(tracePath, KALLSYMS_FILES)[0] ?? null;
}

/** A symbol table given beside a trace or by --kallsyms, and its file. */
export interface SymbolTable {
  table: Kallsyms;
  source: string;
}

/** A row of `probes` (src/store/sql/schema.sql). */
export interface ProbeRow {
  event: string;
  kind: 'entry' | 'return';
  func: string | null;
  offset: number | null;
  printed: string;
  source: string | null;
  definition: ProbeDefinition | null;
}

/** The head a kprobe line prints: `(func+0x4/0x510)`, `(caller+0x..<- func)`, `(ffffffff8114bca3 <- ffffffff811ffd37)`. */
export const KPROBE_PRINTED = /^\((\S+?)(?:\+(0x[0-9a-fA-F]+)\/0x[0-9a-fA-F]+)?(?: <- (\S+?))?\)/;

/** Probe definitions by event (GROUP:EVENT and bare EVENT, as tracefs prints it) and the symbol table. */
export async function probeSources(
  file: string,
  opts: { probes?: string[]; kallsyms?: string },
): Promise<{ byName: Map<string, ProbeDefinition>; kallsyms: SymbolTable | null }> {
  const byName = new Map<string, ProbeDefinition>();
  for (const f of opts.probes ?? definitionsBeside(file)) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (e) {
      throw new TraceInputError(f, null, `cannot read probe definitions: ${(e as Error).message}`);
    }
    for (const d of parseProbeDefinitions(text, f)) {
      byName.set(d.event, d);
      byName.set(d.event.slice(d.event.indexOf(':') + 1), d);
    }
  }
  const ks = opts.kallsyms ?? kallsymsBeside(file);
  let kallsyms: SymbolTable | null = null;
  if (ks) {
    // A symbol table may be compressed like the trace beside it (kallsyms.txt.xz).
    const chunks: Buffer[] = [];
    for await (const c of openTrace(ks).stream) chunks.push(c as Buffer);
    kallsyms = { table: Kallsyms.parse(Buffer.concat(chunks).toString('utf8')), source: ks };
  }
  return { byName, kallsyms };
}

/**
 * What a kprobe event probes: the symbol it prints, else its definition's, else its printed
 * address looked up in the symbol table (trace-cmd report and perf script print only an address
 * when the recording had no kallsyms).
 */
export function probeRow(
  event: string,
  head: RegExpExecArray,
  def: ProbeDefinition | null,
  kallsyms: SymbolTable | null,
): ProbeRow {
  const [printed, first, off, second] = head;
  const bare = /^[0-9a-f]{8,16}$/;
  const ret = second !== undefined;
  // tracefs prints `(caller <- func)`, the print fmt `(func_addr <- ret_ip)`.
  const addrForm = bare.test(first) && (!ret || bare.test(second));
  const shown = ret && !addrForm ? second : first;
  const row: ProbeRow = {
    event,
    kind: ret ? 'return' : 'entry',
    func: null,
    offset: null,
    printed,
    source: null,
    definition: def,
  };
  if (!addrForm && !/^0x/.test(shown)) {
    row.func = shown;
    row.offset = off !== undefined && !ret ? parseInt(off, 16) : ret ? 0 : null;
    row.source = 'text';
  } else if (def?.func) {
    row.func = def.func;
    row.source = def.source;
  } else if (kallsyms) {
    const sym = kallsyms.table.symbol(BigInt('0x' + shown.replace(/^0x/, '')));
    if (sym) {
      row.func = sym.name;
      row.offset = sym.offset;
      row.source = kallsyms.source;
    }
  }
  if (def && def.kind !== row.kind) row.kind = def.kind;
  return row;
}
