// Takes from the lab's `.dat` files of probe set A what `mmreplay synth --format dat` writes
// besides its events (src/synth/dat-kernel.json): header_page and header_event, the format file of
// every event the generator writes (SYNTH_EVENTS), each kprobe's address fields as its first
// record holds them, the kallsyms lines of the symbols those addresses and the lines name, and
// the kernel's uname.
// Usage: node --import tsx scripts/snapshot-synth-dat.ts [TRACE.dat[.xz]...]
// (formats, kallsyms and uname from the first file; a probe's addresses from the first file with a
// record of it). An entry probe on a global function no file has a record of (copy_page_range: set
// A filters it by comm and no 6.12-r2 run forks) is placed as the kernel places it, checked on
// every recorded one: past the function's 4-byte endbr64, which kprobes skip (IBT: every global
// function has one; a static one only where its address is taken).
import fs from 'node:fs';
import path from 'node:path';
import { openBinary } from '../src/ingest/binary.js';
import { BinaryFile } from '../src/parse/binary/bytes.js';
import { fieldReader } from '../src/parse/binary/decode.js';
import { symbolAddr } from '../src/parse/binary/kallsyms.js';
import { parseProbeDefinitions } from '../src/parse/probes.js';
import { cpuEvents } from '../src/parse/binary/dat-cursor.js';
import { readDat } from '../src/parse/binary/tracecmd-dat.js';
import { SYNTH_EVENTS } from '../src/synth/lines.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const sources =
  process.argv.length > 2
    ? process.argv.slice(2)
    : [
        'traces/lab/6.12-r2/race-ksm/A/trace.dat.xz',
        'traces/lab/6.12-r2/race-uffd_wp/A/trace.dat.xz',
        'traces/lab/6.12-r2/race-migrate/A/trace.dat.xz',
        'traces/lab/6.12-r2/race-pageout/A/trace.dat.xz',
      ];
/** Symbols the lines print besides the probed functions: rmap_walk's rmap_one, the marker's ip. */
const NAMED = [
  'tracing_mark_write',
  'page_make_device_exclusive_one',
  'try_to_migrate_one',
  'remove_migration_pte',
  'try_to_unmap_one',
];
const PROBE_FIELDS = ['__probe_ip', '__probe_func', '__probe_ret_ip'];

const probes: Record<string, Record<string, string>> = {};
let first: ReturnType<typeof readDat> | null = null;
for (const src of sources) {
  const opened = (await openBinary(path.resolve(ROOT, src)))!;
  const file = new BinaryFile(opened.path);
  const dat = readDat(file);
  first ??= dat;
  for (const b of dat.buffers) {
    for (const c of b.cpus) {
      const ev = cpuEvents(file, dat, b, c);
      while (ev.next()) {
        const f = dat.td.format(ev.buf.readUInt16LE(ev.rec));
        if (!f || f.event in probes || !SYNTH_EVENTS.includes(f.event)) continue;
        const fields = f.format.fields.filter((x) => PROBE_FIELDS.includes(x.name));
        if (!fields.length) continue;
        const value = (x: (typeof fields)[number]) =>
          BigInt(fieldReader(x, dat.littleEndian)(ev.buf, ev.rec, ev.len) as number | bigint);
        probes[f.event] = Object.fromEntries(
          fields.map((x) => [x.name, `0x${value(x).toString(16)}`]),
        );
      }
    }
  }
  file.close();
  opened.cleanup();
}
const td = first!.td;
const byName = new Map([...td.formats.values()].map((f) => [f.event, f]));
const missing = SYNTH_EVENTS.filter((e) => !byName.has(e));
if (missing.length) throw new Error(`${sources[0]} lacks the formats of ${missing.join(', ')}`);

// kallsyms: the symbol at or below each address, the named ones, and the symbol after each
// (the kernel prints a symbol's size as the distance to the next).
const syms: { addr: bigint; type: string; name: string }[] = [];
td.kallsyms!.forEachText((hi, lo, type, name, module) => {
  if (module === null) syms.push({ addr: symbolAddr(hi, lo), type, name });
});
syms.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
const below = (addr: bigint) => {
  let lo = 0;
  let hi = syms.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (syms[mid].addr <= addr) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};
const DEFS = 'traces/lab/6.12-r2/kprobes-A.txt';
const defs = parseProbeDefinitions(fs.readFileSync(path.join(ROOT, DEFS), 'utf8'), DEFS);
/** Where the kernel puts an entry probe on global function `func` (null: not a global). */
const placed = (func: string) => {
  const s = syms.find((x) => x.name === func && x.type === 'T');
  return s ? `0x${(s.addr + 4n).toString(16)}` : null;
};
for (const e of SYNTH_EVENTS) {
  const def = defs.find((d) => d.event === e);
  if (!def || def.kind !== 'entry') continue;
  const rule = placed(def.func!);
  const got = probes[e]?.__probe_ip;
  if (got && rule && got !== rule)
    throw new Error(`${e}: recorded at ${got}, the rule says ${rule}`);
  if (!got && rule) probes[e] = { __probe_ip: rule };
}
for (const e of SYNTH_EVENTS)
  if (
    td.format(byName.get(e)!.id)!.format.fields.some((x) => PROBE_FIELDS.includes(x.name)) &&
    !probes[e]
  )
    throw new Error(`no record of ${e} in ${sources.join(' ')}`);
const keep = new Set<number>();
for (const p of Object.values(probes)) for (const a of Object.values(p)) keep.add(below(BigInt(a)));
for (const n of NAMED) {
  const i = syms.findIndex((s) => s.name === n);
  if (i < 0) throw new Error(`${sources[0]}: no symbol ${n} in kallsyms`);
  keep.add(i);
}
for (const i of [...keep]) if (i + 1 < syms.length) keep.add(i + 1);
const kallsyms = [...keep]
  .sort((a, b) => a - b)
  .map((i) => `${syms[i].addr.toString(16).padStart(16, '0')} ${syms[i].type} ${syms[i].name}\n`)
  .join('');

const out = {
  sources,
  uname: first!.uname,
  headerPage: td.headerPage,
  headerEvent: td.headerEvent,
  formats: Object.fromEntries(SYNTH_EVENTS.map((e) => [e, byName.get(e)!.text])),
  probes,
  kallsyms,
};
fs.writeFileSync(path.join(ROOT, 'src/synth/dat-kernel.json'), JSON.stringify(out, null, 1) + '\n');
console.log(
  `${SYNTH_EVENTS.length} formats, ${Object.keys(probes).length} probes, ${keep.size} symbols`,
);
