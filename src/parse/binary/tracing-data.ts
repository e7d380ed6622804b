// The tracing metadata a trace-cmd `.dat` and perf's HEADER_TRACING_DATA both carry, in the same
// layout (trace-cmd.dat(5)): the ring buffer's header_page and header_event, every event's
// `format` file, /proc/kallsyms, printk_formats and saved_cmdlines.
import {
  FIELD_DECL,
  FIELD_LINE,
  formatHead,
  parseFormatFile,
  type EventFormat,
} from '../format.js';
import type { BinaryFile, Cursor } from './bytes.js';
import { Kallsyms } from './kallsyms.js';

/** An event's format with what the binary decoder needs besides the fields. */
export interface BinaryFormat {
  id: number;
  /** `system:name` */
  event: string;
  format: EventFormat;
  /** The format file as stored. */
  text: string;
  /** Offsets of the common fields (stable since 2.6, read anyway). */
  pidOffset: number;
  flagsOffset: number;
  preemptOffset: number;
  /** File offset of the format file (of its compressed section), for errors. */
  at?: number;
}

/**
 * A format file as the trace stores it, its id and event read at once; the rest (binaryFormat) is
 * read at its first use: a recorded trace holds thousands (2,323 in the stress run's .dat) and
 * uses a few, and reading them all took 0.1-0.2 CPU s.
 */
export interface StoredFormat {
  id: number;
  /** `system:name` */
  event: string;
  system: string;
  text: string;
  file: BinaryFile;
  /** File offset of the format file (of its compressed section), for errors. */
  at: number;
}

/**
 * Bounds past which a format file is damage, not a kernel's: no record is longer than a
 * ring-buffer page (at most 16 MiB) or a perf sample; the longest print fmt of the bundled 6.x
 * kernels is under 5,000 characters, nested 14 deep, and compiling one takes time in its length
 * times its depth.
 */
const MAX_RECORD = 1 << 24;
const MAX_PRINT_FMT = 1 << 16;
const MAX_DEPTH = 256;

export class TracingData {
  /** The kernel's `long` size, from header_page's `commit` field (8 on 64-bit kernels). */
  longSize = 8;
  /** Offset of the event data in a ring-buffer page (header_page's `data` field). */
  pageDataOffset = 16;
  /** The format files by event id (TracingData.format reads one). */
  readonly formats = new Map<number, StoredFormat>();
  private readonly read = new Map<number, BinaryFormat>();
  kallsyms: Kallsyms | null = null;
  /** printk_formats: address to format string. */
  readonly printk = new Map<bigint, string>();
  /** saved_cmdlines: pid to comm. */
  readonly comms = new Map<number, string>();
  /** The header_page and header_event files as stored. */
  headerPage = '';
  headerEvent = '';

  /**
   * The format of event `id`, read at its first use; null when the trace has none. A format file
   * no kernel writes fails here, naming its offset.
   */
  format(id: number): BinaryFormat | null {
    const known = this.read.get(id);
    if (known) return known;
    const s = this.formats.get(id);
    if (!s) return null;
    let f: BinaryFormat;
    try {
      f = { ...binaryFormat(s.text, s.system), at: s.at };
    } catch (e) {
      return s.file.fail(s.at, `format file of system ${s.system}: ${(e as Error).message}`);
    }
    this.read.set(id, f);
    return f;
  }

  /** Event ids by `system:name` (the last format file of a name, as the catalogue takes them). */
  eventIds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const f of this.formats.values()) out.set(f.event, f.id);
    return out;
  }

  /** "header_page\0", size, text, "header_event\0", size, text. */
  readHeaders(c: Cursor): void {
    expectTag(c, 'header_page');
    const page = c.text(c.u64('header_page size'), 'header_page');
    this.headerPage = page;
    const commit = /field:\s*local_t commit;\s*offset:(\d+);\s*size:(\d+);/.exec(page);
    const data = /field:\s*char data;\s*offset:(\d+);/.exec(page);
    if (!commit || !data) c.fail('header_page has no commit or data field');
    this.longSize = +commit[2];
    if (this.longSize !== 4 && this.longSize !== 8)
      c.fail(`header_page commit size ${this.longSize}, expected 4 or 8`);
    this.pageDataOffset = +data[1];
    expectTag(c, 'header_event');
    this.headerEvent = c.text(c.u64('header_event size'), 'header_event');
  }

  /** The ftrace system's formats: count, then size and text of each. */
  readFtraceFormats(c: Cursor): void {
    const n = c.u32();
    for (let i = 0; i < n; i++) this.addFormat(c, 'ftrace');
  }

  /** Every other system: count; per system its name, count, then size and text of each. */
  readEventFormats(c: Cursor): void {
    const systems = c.u32();
    for (let s = 0; s < systems; s++) {
      const sys = c.cstring('event system name');
      const n = c.u32();
      for (let i = 0; i < n; i++) this.addFormat(c, sys);
    }
  }

  private addFormat(c: Cursor, system: string): void {
    const at = c.offset;
    const text = c.text(c.u64('format file size'), `format file of system ${system}`);
    const { name, id } = formatHead(text);
    if (!name || id === null)
      c.file.fail(
        at,
        `format file of system ${system}: ${name ? `${name} has no ID` : 'format file has no "name:" line'}`,
      );
    this.formats.set(id, { id, event: `${system}:${name}`, system, text, file: c.file, at });
  }

  /** 4-byte size, then /proc/kallsyms. */
  readKallsyms(c: Cursor): void {
    const text = c.text(c.u32(), 'kallsyms');
    this.kallsyms = Kallsyms.parse(text);
  }

  /** 4-byte size, then printk_formats (`0xADDR : "format"`). */
  readPrintk(c: Cursor): void {
    const text = c.text(c.u32(), 'printk formats');
    for (const line of text.split('\n')) {
      const m = /^0x([0-9a-fA-F]+)\s*:\s*"(.*)"\s*$/.exec(line);
      if (m) this.printk.set(BigInt('0x' + m[1]), m[2]);
    }
  }

  /** 8-byte size, then saved_cmdlines (`PID COMM` lines). */
  readCmdlines(c: Cursor): void {
    const text = c.text(c.u64('saved_cmdlines size'), 'saved_cmdlines');
    this.addCmdlines(text);
  }

  addCmdlines(text: string): void {
    for (const line of text.split('\n')) {
      const m = /^(\d+) (.*)$/.exec(line);
      if (m) this.comms.set(+m[1], m[2]);
    }
  }
}

/** An event's format file as the binary decoder (and the `.dat` writer) use it. */
export function binaryFormat(text: string, system: string): BinaryFormat {
  const format = parseFormatFile(text, system);
  if (format.id === null) throw new Error(`${format.name} has no ID`);
  checkBounds(text, format);
  const common = (name: string, dflt: number) => {
    const m = new RegExp(`field:[^;]*\\b${name};\\s*offset:(\\d+);`).exec(text);
    return m ? +m[1] : dflt;
  };
  return {
    id: format.id,
    event: `${system}:${format.name}`,
    format,
    text,
    pidOffset: common('common_pid', 4),
    flagsOffset: common('common_flags', 2),
    preemptOffset: common('common_preempt_count', 3),
  };
}

/** Refuses a format file no kernel writes (MAX_RECORD, ...), which would read as nonsense. */
function checkBounds(text: string, format: EventFormat): void {
  for (const m of text.matchAll(/^\s*field:.*$/gm)) {
    const f = FIELD_LINE.exec(m[0]);
    if (!f || !FIELD_DECL.test(f[1].trim()))
      throw new Error(
        `${format.name}: a field line that does not read: ${m[0].trim().slice(0, 80)}`,
      );
    if (+f[2] + +f[3] > MAX_RECORD)
      throw new Error(
        `${format.name}: field ${f[1].trim().slice(0, 80)} at offset ${f[2]}, ${f[3]} bytes, runs past any record (${MAX_RECORD} bytes)`,
      );
  }
  const pf = /^print fmt:(.*)$/m.exec(text)?.[1] ?? '';
  if (pf.length > MAX_PRINT_FMT)
    throw new Error(
      `${format.name}: print fmt of ${pf.length} characters (at most ${MAX_PRINT_FMT} are read)`,
    );
  let depth = 0;
  for (let i = 0; i < pf.length; i++) {
    const c = pf.charCodeAt(i);
    // ( [ { and their closers
    if (c === 40 || c === 91 || c === 123) {
      if (++depth > MAX_DEPTH)
        throw new Error(`${format.name}: print fmt nested over ${MAX_DEPTH} deep`);
    } else if (c === 41 || c === 93 || c === 125) depth--;
  }
}

function expectTag(c: Cursor, tag: string): void {
  const got = c.bytes(tag.length + 1, tag).toString('latin1');
  if (got !== `${tag}\0`) {
    c.pos -= tag.length + 1;
    c.fail(`expected "${tag}", found ${JSON.stringify(got)}`);
  }
}
