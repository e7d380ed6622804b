// A trace-cmd `.dat` file, versions 6 and 7 (trace-cmd.dat.v6(5), trace-cmd.dat.v7(5)): its
// metadata, and a page source per CPU of every buffer. v7 as trace-cmd 3.1.x writes it departs
// from its document in three places (see /work/shared/reference/facts.md): section sizes are 8
// bytes; the BUFFER option has a 4-byte sub-buffer (page) size after the clock; the size recorded
// for a CPU's compressed data leaves out the 4-byte chunk count, so the chunks are read by count.
import {
  BinaryFile,
  codecOf,
  Cursor,
  inflate,
  inflateBlocks,
  NeedMore,
  type Block,
  type Codec,
} from './bytes.js';
import type { Page, PageSource } from './ring-buffer.js';
import { TracingData } from './tracing-data.js';

export const DAT_MAGIC = Buffer.from([0x17, 0x08, 0x44, ...Buffer.from('tracing')]);

/** Option and section ids (trace-cmd's enum tracecmd_file_options). */
export const OPT = {
  DONE: 0,
  DATE: 1,
  CPUSTAT: 2,
  BUFFER: 3,
  TRACECLOCK: 4,
  UNAME: 5,
  HOOK: 6,
  OFFSET: 7,
  CPUCOUNT: 8,
  VERSION: 9,
  PROCMAPS: 10,
  TRACEID: 11,
  TIME_SHIFT: 12,
  GUEST: 13,
  TSC2NSEC: 14,
  STRINGS: 15,
  HEADER_INFO: 16,
  FTRACE_EVENTS: 17,
  EVENT_FORMATS: 18,
  KALLSYMS: 19,
  PRINTK: 20,
  CMDLINES: 21,
  BUFFER_TEXT: 22,
} as const;

const SECTION_COMPRESSED = 1;

export interface DatCpu {
  cpu: number;
  offset: number;
  size: number;
}

export interface DatBuffer {
  /** Instance name, '' for the top-level buffer. */
  name: string;
  clock: string | null;
  pageSize: number;
  compressed: boolean;
  cpus: DatCpu[];
}

export interface DatFile {
  version: number;
  littleEndian: boolean;
  /** The recorder's user-space long size (the kernel's is td.longSize). */
  userLongSize: number;
  pageSize: number;
  compression: { name: string; version: string } | null;
  td: TracingData;
  buffers: DatBuffer[];
  cpuCount: number | null;
  clock: string | null;
  uname: string | null;
  traceCmdVersion: string | null;
  /** OFFSET options, added to every timestamp (ns). */
  tsOffset: bigint;
  /** TSC2NSEC: timestamps are TSC cycles, ns = cycles * mult >> shift. */
  tsc2nsec: { mult: number; shift: number; offset: bigint } | null;
  /** DATE option (µs between the trace clock and the time of day), not applied (as trace-cmd). */
  date: string | null;
  /** CPUSTAT options: each CPU's `per_cpu/cpuN/stats` when the trace was saved. */
  cpuStats: string[];
}

export function readDat(file: BinaryFile): DatFile {
  // The header up to the options is small but of unknown length (v6 keeps kallsyms in it): read a
  // window and widen it when a read runs past it.
  for (let window = 1 << 22; ; window *= 4) {
    const len = Math.min(window, file.size);
    const c = new Cursor(
      file,
      file.read(0, len, 'file header'),
      0,
      true,
      'file header',
      false,
      len < file.size,
    );
    try {
      return readHeader(file, c);
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
    }
  }
}

function readHeader(file: BinaryFile, c: Cursor): DatFile {
  const magic = c.bytes(10, 'magic');
  if (!magic.equals(DAT_MAGIC)) c.fail('not a trace-cmd .dat file (bad magic)');
  const versionAt = c.pos;
  const versionText = c.cstring('file version');
  const version = Number(versionText);
  if (version !== 6 && version !== 7) {
    c.pos = versionAt;
    c.fail(`file version "${versionText}": only versions 6 and 7 are read`);
  }
  const endian = c.u8();
  if (endian > 1) c.fail(`endianness byte ${endian}, expected 0 or 1`);
  const le = endian === 0;
  const v = new Cursor(file, c.buf, 0, le, 'file header', false, c.partial);
  v.pos = c.pos;
  const userLongSize = v.u8();
  const pageSize = v.u32();
  if (pageSize < 256 || pageSize > 1 << 24 || (pageSize & (pageSize - 1)) !== 0)
    v.fail(`page size ${pageSize} is not a plausible power of two`);
  const dat: DatFile = {
    version,
    littleEndian: le,
    userLongSize,
    pageSize,
    compression: null,
    td: new TracingData(),
    buffers: [],
    cpuCount: null,
    clock: null,
    uname: null,
    traceCmdVersion: null,
    tsOffset: 0n,
    tsc2nsec: null,
    date: null,
    cpuStats: [],
  };
  return version === 6 ? readV6(file, v, dat) : readV7(file, v, dat);
}

function readV6(file: BinaryFile, c: Cursor, dat: DatFile): DatFile {
  const td = dat.td;
  td.readHeaders(c);
  td.readFtraceFormats(c);
  td.readEventFormats(c);
  td.readKallsyms(c);
  td.readPrintk(c);
  td.readCmdlines(c);
  const cpus = c.u32();
  if (cpus > 1 << 16) c.fail(`${cpus} CPUs`);
  dat.cpuCount = cpus;
  const kind = readOptionsAndKind(file, c, dat);
  dat.buffers.unshift({
    name: '',
    clock: dat.clock,
    pageSize: dat.pageSize,
    compressed: false,
    cpus: readV6Cpus(c, cpus, kind),
  });
  // Instance buffers (BUFFER options) have their own options/flyrecord block at their offset.
  for (const b of dat.buffers.slice(1)) {
    const at = b.cpus[0]?.offset ?? 0;
    const bc = file.cursor(
      at,
      Math.min(file.size - at, 4096 + 16 * cpus),
      `buffer "${b.name}"`,
      dat.littleEndian,
    );
    b.cpus = readV6Cpus(bc, cpus, readOptionsAndKind(file, bc, dat));
  }
  return dat;
}

/** "options  \0" and options, then "flyrecord\0" (or "latency  \0", which is not read). */
function readOptionsAndKind(file: BinaryFile, c: Cursor, dat: DatFile): string {
  let kind = c.bytes(10, 'data kind').toString('latin1');
  if (kind.startsWith('options')) {
    for (;;) {
      const id = c.u16();
      if (id === OPT.DONE) break;
      const size = c.u32();
      const at = c.offset;
      option(
        file,
        dat,
        id,
        new Cursor(file, c.bytes(size, `option ${id}`), at, dat.littleEndian, `option ${id}`),
      );
    }
    kind = c.bytes(10, 'data kind').toString('latin1');
  }
  if (kind.startsWith('latency'))
    c.fail('a latency-tracer .dat (text data) is not read; only flyrecord data');
  if (!kind.startsWith('flyrecord')) c.fail(`expected "flyrecord", found ${JSON.stringify(kind)}`);
  return kind;
}

function readV6Cpus(c: Cursor, cpus: number, _kind: string): DatCpu[] {
  const out: DatCpu[] = [];
  for (let cpu = 0; cpu < cpus; cpu++)
    out.push({ cpu, offset: c.u64('CPU data offset'), size: c.u64('CPU data size') });
  return out;
}

function readV7(file: BinaryFile, c: Cursor, dat: DatFile): DatFile {
  const name = c.cstring('compression name');
  const cversion = c.cstring('compression version');
  let codec: Codec | null = null;
  if (name !== 'none') {
    codec = codecOf(name);
    if (!codec) c.fail(`compression "${name}" is not supported (zlib and zstd are)`);
    dat.compression = { name, version: cversion };
  }
  let next = c.u64('first options offset');
  const seen = new Set<number>();
  const sections: [number, number][] = [];
  while (next) {
    if (seen.has(next)) file.fail(next, 'options sections form a loop');
    seen.add(next);
    const s = section(file, next, OPT.DONE, codec, dat.littleEndian, 'options section');
    for (;;) {
      const id = s.u16();
      const size = s.u32();
      const at = s.offset;
      const data = new Cursor(
        file,
        s.bytes(size, `option ${id}`),
        at,
        dat.littleEndian,
        `option ${id}`,
        s.inflated,
      );
      if (id === OPT.DONE) {
        next = data.u64('next options offset');
        break;
      }
      if (id >= OPT.HEADER_INFO && id <= OPT.CMDLINES)
        sections.push([id, data.u64('section offset')]);
      else option(file, dat, id, data, codec);
    }
  }
  const td = dat.td;
  const order = [
    OPT.HEADER_INFO,
    OPT.FTRACE_EVENTS,
    OPT.EVENT_FORMATS,
    OPT.KALLSYMS,
    OPT.PRINTK,
    OPT.CMDLINES,
  ];
  for (const id of order) {
    for (const [sid, offset] of sections) {
      if (sid !== id) continue;
      const s = section(file, offset, id, codec, dat.littleEndian, `section ${id}`);
      if (id === OPT.HEADER_INFO) td.readHeaders(s);
      else if (id === OPT.FTRACE_EVENTS) td.readFtraceFormats(s);
      else if (id === OPT.EVENT_FORMATS) td.readEventFormats(s);
      else if (id === OPT.KALLSYMS) td.readKallsyms(s);
      else if (id === OPT.PRINTK) td.readPrintk(s);
      else td.readCmdlines(s);
    }
  }
  if (!sections.some(([id]) => id === OPT.HEADER_INFO))
    file.fail(0, 'no HEADER_INFO section (header_page), cannot read the ring-buffer pages');
  return dat;
}

/** A v7 section at `offset`: its header, then its data (decompressed when flagged). */
function section(
  file: BinaryFile,
  offset: number,
  id: number,
  codec: Codec | null,
  le: boolean,
  what: string,
): Cursor {
  const h = file.cursor(offset, 16, `${what} header`, le);
  const got = h.u16();
  const flags = h.u16();
  h.u32(); // description string id
  const size = h.u64('section size');
  if (got !== id) file.fail(offset, `${what}: section id ${got}, expected ${id}`);
  if (!(flags & SECTION_COMPRESSED)) return file.cursor(offset + 16, size, what, le);
  if (!codec) file.fail(offset, `${what}: compressed, but the file names no compression`);
  const z = file.cursor(offset + 16, 8, `${what} compression header`, le);
  const csize = z.u32();
  const usize = z.u32();
  const data = inflate(file, offset, codec, file.read(offset + 24, csize, what), usize, what);
  return new Cursor(file, data, offset, le, what, true);
}

function option(
  file: BinaryFile,
  dat: DatFile,
  id: number,
  c: Cursor,
  codec: Codec | null = null,
): void {
  const str = () => c.buf.toString('utf8').replace(/\0[^]*$/, '');
  switch (id) {
    case OPT.DATE:
      dat.date = str();
      break;
    case OPT.CPUSTAT:
      dat.cpuStats.push(str());
      break;
    case OPT.BUFFER: {
      const offset = c.u64('buffer offset');
      const name = c.cstring('buffer name');
      if (dat.version === 6) {
        dat.buffers.push({
          name,
          clock: null,
          pageSize: dat.pageSize,
          compressed: false,
          cpus: [{ cpu: -1, offset, size: 0 }],
        });
        break;
      }
      const clock = c.cstring('buffer clock');
      const pageSize = c.u32();
      if (pageSize < 256 || pageSize > 1 << 24) c.fail(`buffer "${name}" page size ${pageSize}`);
      const n = c.u32();
      if (n > 1 << 16) c.fail(`buffer "${name}" has ${n} CPUs`);
      const cpus: DatCpu[] = [];
      for (let i = 0; i < n; i++)
        cpus.push({ cpu: c.u32(), offset: c.u64('CPU data offset'), size: c.u64('CPU data size') });
      // The flyrecord section's header says whether the CPU data is compressed.
      const h = file.cursor(offset, 16, `buffer "${name}" section header`, dat.littleEndian);
      const sid = h.u16();
      const flags = h.u16();
      if (sid !== OPT.BUFFER)
        file.fail(offset, `buffer "${name}": section id ${sid}, expected ${OPT.BUFFER}`);
      const compressed = (flags & SECTION_COMPRESSED) !== 0;
      if (compressed && !codec)
        file.fail(offset, `buffer "${name}": compressed, but the file names no compression`);
      dat.buffers.push({ name, clock, pageSize, compressed, cpus });
      break;
    }
    case OPT.BUFFER_TEXT:
      c.fail('a latency-tracer .dat (text data) is not read; only flyrecord data');
      break;
    case OPT.TRACECLOCK:
      dat.clock = /\[(\S+)\]/.exec(str())?.[1] ?? str().trim();
      break;
    case OPT.UNAME:
      dat.uname = str();
      break;
    case OPT.OFFSET: {
      const s = str().trim();
      if (!/^-?(0x[0-9a-fA-F]+|\d+)$/.test(s)) c.fail(`OFFSET option "${s}" is not a number`);
      dat.tsOffset += s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
      break;
    }
    case OPT.CPUCOUNT:
      dat.cpuCount = c.u32();
      break;
    case OPT.VERSION:
      dat.traceCmdVersion = str();
      break;
    case OPT.TSC2NSEC:
      dat.tsc2nsec = { mult: c.u32(), shift: c.u32(), offset: c.u64big() };
      break;
    default:
      // HOOK, PROCMAPS, TRACEID, TIME_SHIFT (guest/host sync), GUEST, STRINGS: not needed.
      break;
  }
}

/** Decompressed bytes the chunk groups of all CPUs hold at once, about (cpuPages). */
const GROUP_BYTES = 16 << 20;

/** Pages read from the file per read of uncompressed data. */
const PAGES_PER_READ = 64;

/** The pages of one CPU's data, read a block (or a compressed chunk) at a time. */
export function cpuPages(
  file: BinaryFile,
  dat: DatFile,
  buffer: DatBuffer,
  cpu: DatCpu,
): PageSource {
  const ps = buffer.pageSize;
  const le = dat.littleEndian;
  const what = `CPU ${cpu.cpu} data${buffer.name ? ` of buffer "${buffer.name}"` : ''}`;
  let buf: Buffer = Buffer.alloc(0);
  let at = 0;
  let bufOffset = 0;
  if (!buffer.compressed) {
    if (cpu.offset + cpu.size > file.size)
      file.fail(
        cpu.offset,
        `${what}: ${cpu.size} bytes at offset ${cpu.offset} run past the end of the file (${file.size} bytes; truncated?)`,
      );
    let pos = cpu.offset;
    const end = cpu.offset + cpu.size;
    return (): Page | null => {
      if (at + ps > buf.length) {
        if (pos >= end) return null;
        const n = Math.min(end - pos, ps * PAGES_PER_READ);
        if (n < ps) file.fail(pos, `${what}: ${n} bytes left, less than a page (${ps})`);
        buf = file.read(pos, n - (n % ps), what);
        bufOffset = pos;
        pos += buf.length;
        at = 0;
      }
      const page = { buf, at, fileOffset: bufOffset + at };
      at += ps;
      return page;
    };
  }
  const codec = codecOf(dat.compression!.name)!;
  if (cpu.size === 0) return () => null;
  let pos = cpu.offset;
  const count = file.cursor(pos, 4, `${what} chunk count`, le).u32();
  pos += 4;
  let chunk = 0;
  let chunkOffset = 0;
  // Chunks are decompressed a group at a time (one `zstd` process each, inflateBlocks): the
  // groups of all CPUs together hold about GROUP_BYTES.
  const streams = dat.buffers.reduce((n, b) => n + b.cpus.filter((c) => c.size > 0).length, 0);
  const groupBytes = Math.min(4 << 20, Math.max(256 << 10, GROUP_BYTES / streams));
  let group: Buffer[] = [];
  let offsets: number[] = [];
  const readGroup = () => {
    const blocks: Block[] = [];
    let bytes = 0;
    while (chunk < count && bytes < groupBytes) {
      const h = file.cursor(pos, 8, `${what} chunk ${chunk} header`, le);
      const csize = h.u32();
      const usize = h.u32();
      if (usize % ps)
        file.fail(
          pos,
          `${what} chunk ${chunk}: ${usize} bytes is not a whole number of ${ps}-byte pages`,
        );
      const w = `${what} chunk ${chunk}`;
      blocks.push({ offset: pos, data: file.read(pos + 8, csize, w), size: usize, what: w });
      bytes += usize;
      pos += 8 + csize;
      chunk++;
    }
    group = inflateBlocks(file, codec, blocks);
    offsets = blocks.map((b) => b.offset);
  };
  return (): Page | null => {
    while (at + ps > buf.length) {
      if (!group.length) {
        if (chunk >= count) return null;
        readGroup();
      }
      buf = group.shift()!;
      chunkOffset = offsets.shift()!;
      at = 0;
    }
    const page = { buf, at, fileOffset: chunkOffset };
    at += ps;
    return page;
  };
}
