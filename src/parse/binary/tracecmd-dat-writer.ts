// Writes a trace-cmd `.dat`, file version 6 (trace-cmd.dat.v6(5)), little-endian, uncompressed,
// streaming: each record goes into its CPU's ring-buffer page as the kernel lays it out
// (kernel/trace/ring_buffer.c: a page header of timestamp and commit, 4-byte event headers of
// type_len and time delta, time extends for gaps of 2^27 ns or more), and full pages go to a
// temporary file per CPU beside the output. A v6 file holds each CPU's pages contiguously after
// the header, whose saved_cmdlines is known only at the end: close() writes the header and then
// copies the CPUs' pages after it. Memory stays at a page per CPU and the copy buffer.
// The inverse of tracecmd-dat.ts + ring-buffer.ts, which read it back in test/dat.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { MAX_DATA_TYPE_LEN, TIME_EXTEND, TS_SHIFT } from './ring-buffer.js';
import { DAT_MAGIC, OPT } from './tracecmd-dat.js';
import type { BinaryFormat } from './tracing-data.js';

/** What the header carries besides the events. */
export interface DatHeader {
  /** The tracefs `events/header_page` and `events/header_event` files. */
  headerPage: string;
  headerEvent: string;
  /** Format files: the ftrace system's (`ftrace:print`, ...) and every other system's. */
  formats: BinaryFormat[];
  /** /proc/kallsyms text (may be empty). */
  kallsyms: string;
  /** printk_formats text (may be empty). */
  printk: string;
  /** saved_cmdlines: pid to comm. */
  comms: Map<number, string>;
  /** The trace clock (TRACECLOCK option: tracefs `trace_clock` with it bracketed). */
  clock: string;
  /** `uname -a`-like text of the traced kernel (UNAME option), or null. */
  uname: string | null;
}

/** The trace_clock choices a 6.12 x86-64 kernel offers, as its `trace_clock` file lists them. */
const CLOCKS = [
  'local',
  'global',
  'counter',
  'uptime',
  'perf',
  'mono',
  'mono_raw',
  'boot',
  'tai',
  'x86-tsc',
];
const PAGE_HEADER = 16;
/** Pages written to a CPU's temporary file at once. */
const PAGES_PER_WRITE = 64;
const TWO32 = 0x100000000;
/** The largest time delta an event header holds (27 bits); longer gaps take a time extend. */
const MAX_DELTA = (1 << TS_SHIFT) - 1;

/** One CPU's ring-buffer pages, filled a record at a time. */
class CpuPages {
  private readonly block: Buffer;
  /** Offset of the current page in block, and of its next free byte. */
  private page = 0;
  private pos = PAGE_HEADER;
  private lastTs = 0;
  private readonly fd: number;
  size = 0;

  constructor(
    readonly tmp: string,
    private readonly pageSize: number,
  ) {
    this.block = Buffer.alloc(pageSize * PAGES_PER_WRITE);
    this.fd = fs.openSync(tmp, 'w');
  }

  add(ts: number, rec: Buffer, len: number): void {
    const body = (len + 3) & ~3;
    // Up to 28 words the length is the type_len; longer, a 4-byte length follows the header.
    const small = body <= MAX_DATA_TYPE_LEN * 4;
    const need = 4 + (small ? 0 : 4) + body;
    if (PAGE_HEADER + need > this.pageSize)
      throw new Error(`an event of ${len} bytes does not fit a ${this.pageSize}-byte page`);
    if (ts < this.lastTs)
      throw new Error(`CPU events out of time order (${ts} ns after ${this.lastTs} ns)`);
    let delta = ts - this.lastTs;
    const extend = this.pos > PAGE_HEADER && delta > MAX_DELTA;
    if (this.pos + need + (extend ? 8 : 0) > this.pageSize) this.endPage();
    const b = this.block;
    if (this.pos === PAGE_HEADER) {
      // A page's first event: the page's timestamp is its time.
      writeU64(b, this.page, ts);
      delta = 0;
    } else if (extend) {
      b.writeUInt32LE(((delta % (1 << TS_SHIFT)) * 32 + TIME_EXTEND) >>> 0, this.page + this.pos);
      b.writeUInt32LE(Math.floor(delta / (1 << TS_SHIFT)), this.page + this.pos + 4);
      this.pos += 8;
      delta = 0;
    }
    let at = this.page + this.pos;
    if (small) b.writeUInt32LE((delta * 32 + body / 4) >>> 0, at);
    else {
      b.writeUInt32LE((delta * 32) >>> 0, at);
      b.writeUInt32LE(body + 4, at + 4);
      at += 4;
    }
    rec.copy(b, at + 4, 0, len);
    b.fill(0, at + 4 + len, at + 4 + body);
    this.pos += need;
    this.lastTs = ts;
  }

  /** Closes the current page: its commit is the bytes of events in it. */
  private endPage(): void {
    if (this.pos === PAGE_HEADER) return;
    const b = this.block;
    writeU64(b, this.page + 8, this.pos - PAGE_HEADER);
    b.fill(0, this.page + this.pos, this.page + this.pageSize);
    this.page += this.pageSize;
    this.pos = PAGE_HEADER;
    if (this.page === b.length) this.flush();
  }

  private flush(): void {
    if (this.page) fs.writeSync(this.fd, this.block, 0, this.page);
    this.size += this.page;
    this.page = 0;
  }

  finish(): void {
    this.endPage();
    this.flush();
    fs.closeSync(this.fd);
  }

  /** Drops the pages: closes and removes the temporary file. */
  discard(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }
}

/** A Number (|v| < 2^53, negative ones as two's complement) as 8 little-endian bytes. */
function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v >>> 0, at);
  b.writeUInt32LE(Math.floor(v / TWO32) >>> 0, at + 4);
}

/**
 * A field's value: a number or BigInt; for an integer field, text is hex (`0x…`) or a kernel
 * symbol (`name` or `name+0xoff/0xsize`, resolved by the encoder's caller); for a char array, the
 * string; for another array, its elements.
 */
export type RecordValue = number | bigint | string | RecordValue[];

/**
 * Writes records of one event (the inverse of decode.ts's field readers), little-endian: its
 * common fields, the `fixed` fields by name, and `values` for the others in the format file's
 * order. Returns the record's length. A `char NAME[]` field (size 0) runs to the record's end.
 */
export function recordEncoder(
  bf: BinaryFormat,
  fixed: Record<string, RecordValue>,
  symbol: (name: string) => bigint,
): (out: Buffer, pid: number, flags: number, preempt: number, values: RecordValue[]) => number {
  const fields = bf.format.fields;
  const free = fields.filter((f) => !(f.name in fixed));
  let size = 8;
  for (const f of fields) size = Math.max(size, f.offset + f.size);
  const tail = fields.find((f) => f.size === 0 && /\bchar\b.*\[\]$/.test(f.ctype));
  const write = (out: Buffer, f: (typeof fields)[number], v: RecordValue): number => {
    const at = f.offset;
    if (/__data_loc|__rel_loc/.test(f.ctype))
      throw new Error(`${bf.event}.${f.name}: dynamic fields are not written`);
    if (/\bchar\b.*\[\d*\]$/.test(f.ctype)) {
      const s = String(v);
      const n = f.size === 0 ? s.length + 1 : f.size;
      out.fill(0, at, at + n);
      out.write(s, at, Math.min(s.length, n - 1), 'latin1');
      return at + n;
    }
    if (Array.isArray(v)) {
      const elem = f.size / v.length;
      if (![1, 2, 4, 8].includes(elem))
        throw new Error(`${bf.event}.${f.name}: ${v.length} values for ${f.size} bytes`);
      v.forEach((x, i) =>
        writeInt(out, at + i * elem, elem, x as number | bigint | string, symbol),
      );
    } else writeInt(out, at, f.size, v, symbol);
    return at + f.size;
  };
  return (out, pid, flags, preempt, values) => {
    out.fill(0, 0, size);
    out.writeUInt16LE(bf.id, 0);
    out[bf.flagsOffset] = flags;
    out[bf.preemptOffset] = preempt;
    out.writeInt32LE(pid, bf.pidOffset);
    let end = size;
    for (const f of fields) if (f.name in fixed) write(out, f, fixed[f.name]);
    if (values.length !== free.length)
      throw new Error(`${bf.event}: ${values.length} values for ${free.length} fields`);
    for (let i = 0; i < free.length; i++) {
      const e = write(out, free[i], values[i]);
      if (free[i] === tail) end = e;
    }
    return end;
  };
}

/** An integer of `size` bytes, little-endian, wrapping like a C cast. */
function writeInt(
  out: Buffer,
  at: number,
  size: number,
  v: number | bigint | string,
  symbol: (name: string) => bigint,
): void {
  if (typeof v === 'string') {
    if (!v.startsWith('0x')) v = symbol(v);
    else if (v.length <= 15) v = parseInt(v, 16);
    else if (size === 8 && v.length <= 18) {
      out.writeUInt32LE(parseInt(v.slice(-8), 16), at);
      out.writeUInt32LE(parseInt(v.slice(2, -8), 16), at + 4);
      return;
    } else v = BigInt(v);
  }
  if (typeof v === 'bigint') {
    const u = BigInt.asUintN(size * 8, v);
    if (size === 8) return void out.writeBigUInt64LE(u, at);
    v = Number(u);
  }
  const n = v as number;
  if (size === 8) writeU64(out, at, n);
  else if (size === 4) out.writeUInt32LE(n >>> 0, at);
  else if (size === 2) out.writeUInt16LE(n & 0xffff, at);
  else if (size === 1) out[at] = n & 0xff;
  else throw new Error(`a ${size}-byte integer field`);
}

/** Little-endian pieces of the header, gathered then written once. */
class Pieces {
  readonly parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.push(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    writeU64(b, 0, v);
    this.push(b);
  }
  cstring(s: string): void {
    this.push(Buffer.from(s + '\0', 'latin1'));
  }
  /** A size (4 or 8 bytes) and the text. */
  sized(s: string, sizeBytes: 4 | 8): void {
    const b = Buffer.from(s, 'utf8');
    if (sizeBytes === 4) this.u32(b.length);
    else this.u64(b.length);
    this.push(b);
  }
  option(id: number, data: Buffer): void {
    this.u16(id);
    this.u32(data.length);
    this.push(data);
  }
}

export class DatWriter {
  private readonly cpus: CpuPages[];

  constructor(
    readonly file: string,
    cpus: number,
    readonly pageSize = 4096,
  ) {
    const dir = path.dirname(path.resolve(file));
    const base = `.${path.basename(file)}.${process.pid}`;
    this.cpus = Array.from(
      { length: cpus },
      (_, i) => new CpuPages(path.join(dir, `${base}.cpu${i}.tmp`), pageSize),
    );
  }

  /** Appends a record (`len` bytes of `rec`, common_type first) at `ts` ns to `cpu`'s buffer;
   *  each CPU's records must come in time order. */
  event(cpu: number, ts: number, rec: Buffer, len: number): void {
    this.cpus[cpu].add(ts, rec, len);
  }

  /** Writes the file: the header, then every CPU's pages; removes the temporary files. */
  close(h: DatHeader): void {
    try {
      for (const c of this.cpus) c.finish();
      this.assemble(h);
    } finally {
      for (const c of this.cpus) fs.rmSync(c.tmp, { force: true });
    }
  }

  /** Gives up the file (the run failed): removes the temporary files, writes nothing. */
  discard(): void {
    for (const c of this.cpus) c.discard();
  }

  private assemble(h: DatHeader): void {
    const p = new Pieces();
    p.push(DAT_MAGIC);
    p.cstring('6');
    p.push(Buffer.from([0, 8])); // little-endian, 8-byte long
    p.u32(this.pageSize);
    p.cstring('header_page');
    p.sized(h.headerPage, 8);
    p.cstring('header_event');
    p.sized(h.headerEvent, 8);
    const ftrace = h.formats.filter((f) => f.event.startsWith('ftrace:'));
    p.u32(ftrace.length);
    for (const f of ftrace) p.sized(f.text, 8);
    const systems = new Map<string, BinaryFormat[]>();
    for (const f of h.formats) {
      const sys = f.event.slice(0, f.event.indexOf(':'));
      if (sys === 'ftrace') continue;
      if (!systems.has(sys)) systems.set(sys, []);
      systems.get(sys)!.push(f);
    }
    p.u32(systems.size);
    for (const [sys, list] of systems) {
      p.cstring(sys);
      p.u32(list.length);
      for (const f of list) p.sized(f.text, 8);
    }
    p.sized(h.kallsyms, 4);
    p.sized(h.printk, 4);
    p.sized([...h.comms].map(([pid, comm]) => `${pid} ${comm}\n`).join(''), 8);
    p.u32(this.cpus.length);
    p.push(Buffer.from('options  \0', 'latin1'));
    const clocks = CLOCKS.includes(h.clock) ? CLOCKS : [...CLOCKS, h.clock];
    const clockText = clocks.map((c) => (c === h.clock ? `[${c}]` : c)).join(' ') + '\n';
    p.option(OPT.TRACECLOCK, Buffer.from(clockText + '\0', 'latin1'));
    if (h.uname) p.option(OPT.UNAME, Buffer.from(h.uname + '\0', 'latin1'));
    const count = Buffer.alloc(4);
    count.writeUInt32LE(this.cpus.length);
    p.option(OPT.CPUCOUNT, count);
    p.u16(OPT.DONE);
    p.push(Buffer.from('flyrecord\0', 'latin1'));
    // After the CPUs' offsets and sizes, trace-cmd's v6 files hold the selected clock (8-byte size,
    // `[local]`), which its reader takes the clock from; the man page leaves it out.
    const selected = `[${h.clock}]`;
    // The CPU data starts at the first page boundary after all that.
    const end = p.length + 16 * this.cpus.length + 8 + selected.length;
    let offset = Math.ceil(end / this.pageSize) * this.pageSize;
    for (const c of this.cpus) {
      p.u64(offset);
      p.u64(c.size);
      offset += c.size;
    }
    p.sized(selected, 8);
    const fd = fs.openSync(this.file, 'w');
    try {
      for (const b of p.parts) fs.writeSync(fd, b);
      fs.writeSync(
        fd,
        Buffer.alloc(Math.ceil(p.length / this.pageSize) * this.pageSize - p.length),
      );
      const copy = Buffer.allocUnsafe(1 << 20);
      for (const c of this.cpus) {
        const src = fs.openSync(c.tmp, 'r');
        try {
          for (let n; (n = fs.readSync(src, copy, 0, copy.length, null)) > 0;)
            fs.writeSync(fd, copy, 0, n);
        } finally {
          fs.closeSync(src);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}
