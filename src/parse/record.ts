// The normalized event every reader produces, whatever the text format.

export type TraceFormat = 'ftrace' | 'trace-cmd' | 'perf';

export interface EventHeader {
  comm: string;
  tid: number;
  tgid: number | null;
  /** null where the text prints no CPU (perf script -F without cpu). */
  cpu: number | null;
  /** Latency/irq flags column as printed (`d..1.`), when the format has it. */
  flags: string | null;
  /** Timestamp in ns, parsed exactly from the decimal text: a Number below 2^53, else a BigInt. */
  tsNs: number | bigint;
  /** `system:name` when the line names its system (perf), else null until resolved. */
  event: string | null;
  /** Event name as printed (without system). */
  name: string;
  /** Everything after the event name: the printed fields. */
  body: string;
  /** trace-cmd instance buffer name, when the report prints one. */
  buffer: string | null;
}

/** What one input line turned out to be. */
export type LineResult =
  | { kind: 'event' }
  | { kind: 'header'; key?: string; value?: string }
  | { kind: 'lost'; cpu: number | null; count: number | null }
  | { kind: 'unparsed'; reason: string }
  /**
   * A frame of the call chain `perf script` prints under a sample recorded with -g, or of a stack
   * ftrace records after an event (options/stacktrace, userstacktrace, a stacktrace trigger): ip
   * in hex, each part null where the line prints none.
   */
  | { kind: 'frame'; ip: string | null; symbol: string | null; dso: string | null };

export const EVENT: LineResult = { kind: 'event' };

// A frame of a stack ftrace recorded: tracefs ` => exc_page_fault` (` <ffffffff81234567>` with
// options/sym-addr), ` =>  <00007f148e559aa2>` (a user stack); trace-cmd report
// `=> do_anonymous_page (ffffffff816082ed)`, `\t=> 0x7f39a29acad7`
// (kernel/trace/trace_output.c trace_stack_print, trace_user_stack_print).
const STACK_FRAME = /^\s*=> ?(.*?)\s*(?:[<(]([0-9a-f]{1,16})[>)])?$/;

/** A line of a stack ftrace recorded as a frame, else null. */
export function stackFrame(line: string): LineResult | null {
  const m = STACK_FRAME.exec(line);
  if (!m) return null;
  const hex = /^0x([0-9a-f]{1,16})$/.exec(m[1]);
  if (hex) return { kind: 'frame', ip: hex[1], symbol: null, dso: null };
  return { kind: 'frame', ip: m[2] ?? null, symbol: m[1] || null, dso: null };
}

// Every lost-events marker the text formats print: the kernel's (tracefs trace and trace_pipe)
// `CPU:N [LOST M EVENTS]`, trace-cmd report's `CPU:N [M EVENTS DROPPED]`, and both without a count
// when the tracer could not count them; trace-cmd may put an instance name first.
const LOST_MARKER =
  /^\s*(?:[\w.-]+:\s+)?CPU:\s*(\d+) \[(?:LOST (?:(\d+) )?EVENTS|(?:(\d+) )?EVENTS DROPPED)\]\s*$/;
// `perf script --show-lost-events`: a PERF_RECORD_LOST (or _LOST_SAMPLES) record, with its CPU
// when the sample header is printed.
const PERF_LOST = /^(?:.*?\[(\d+)\].*?)?PERF_RECORD_LOST(?:_SAMPLES)?\b.*?\blost:? ?(\d+)/;

/** A lost-events marker of any format, or null. */
export function lostMarker(line: string): LineResult | null {
  if (line.indexOf('CPU:') >= 0) {
    const m = LOST_MARKER.exec(line);
    if (m) {
      const n = m[2] ?? m[3];
      return { kind: 'lost', cpu: +m[1], count: n !== undefined ? +n : null };
    }
  }
  if (line.indexOf('PERF_RECORD_LOST') >= 0) {
    const m = PERF_LOST.exec(line);
    if (m) return { kind: 'lost', cpu: m[1] !== undefined ? +m[1] : null, count: +m[2] };
  }
  return null;
}
export const HEADER: LineResult = { kind: 'header' };

export interface LineReader {
  readonly format: TraceFormat;
  /** Parses one line; on `event`, fills `out`. */
  parse(line: string, out: EventHeader): LineResult;
  /**
   * The common event lines read from their bytes [s, e) of printable ASCII (lines.ts `plain`),
   * as parse() would read them: true with `out` filled, or false to leave the line to parse().
   */
  scan(b: Buffer, s: number, e: number, out: RawHeader): boolean;
  /** Trace-level metadata gathered from header lines. */
  metadata(): Record<string, unknown>;
}

export function newHeader(): EventHeader {
  return {
    comm: '',
    tid: 0,
    tgid: null,
    cpu: 0,
    flags: null,
    tsNs: 0,
    event: null,
    name: '',
    body: '',
    buffer: null,
  };
}

const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1];

/**
 * `3835.535258` (µs) or `3835.535258123` (ns) to exact ns: a Number up to 9007198 s (104 days),
 * where the ns count stays below 2^53 and Number arithmetic is exact, else a BigInt. (JS compares
 * the two exactly, so callers may mix them.)
 */
export function tsToNs(sec: string, frac: string): number | bigint {
  if (sec.length <= 7 && frac.length <= 9) {
    const s = +sec;
    if (s < 9007198) return s * 1e9 + +frac * POW10[frac.length];
  }
  return BigInt(frac.length >= 9 ? sec + frac.slice(0, 9) : sec + frac.padEnd(9, '0'));
}

/**
 * A timestamp printed as a bare count (`612791299416807`): tracefs prints the counter of a trace
 * clock that does not count ns (x86-tsc, counter, uptime) as it is. Kept as the count, which is
 * what `trace-cmd report` makes of such a clock's times (as ns); a Number below 2^53.
 */
export function countToTs(count: string): number | bigint {
  return count.length <= 15 ? +count : BigInt(count);
}

/**
 * An event line's header as LineReader.scan reads it from the line's bytes: the numbers, and
 * where its texts are (byte offsets into the batch).
 */
export interface RawHeader {
  commStart: number;
  commEnd: number;
  tid: number;
  /** -1: none. */
  tgid: number;
  /** -1: none. */
  cpu: number;
  /** -1: none. */
  flagsStart: number;
  flagsEnd: number;
  /** A Number: scan gives up on a time that tsToNs would make a BigInt. */
  tsNs: number;
  /** The event as the line names it: its name (tracefs, trace-cmd) or system:name (perf). */
  keyStart: number;
  keyEnd: number;
  /** The printed fields: bodyStart to the end of the line. */
  bodyStart: number;
}

export function newRawHeader(): RawHeader {
  return {
    commStart: 0,
    commEnd: 0,
    tid: 0,
    tgid: -1,
    cpu: 0,
    flagsStart: -1,
    flagsEnd: -1,
    tsNs: 0,
    keyStart: 0,
    keyEnd: 0,
    bodyStart: 0,
  };
}

/**
 * What a scan of a line from one place found: the line's regex matches there (MATCH; `out` is
 * filled) or cannot (NO_MATCH: the regex would try its next choice), or the scan cannot tell or
 * leaves the line to the text's parse (GIVE_UP).
 */
export const MATCH = 1;
export const NO_MATCH = 0;
export const GIVE_UP = -1;

export const isDigit = (c: number) => c >= 48 && c <= 57;

/** The end of the run of digits at p. */
export function digitsEnd(b: Uint8Array, p: number, e: number): number {
  while (p < e && isDigit(b[p])) p++;
  return p;
}

/** The value of the digits [s, e); NaN past 9 digits (the caller gives up: a range check's). */
export function smallDecimal(b: Uint8Array, s: number, e: number): number {
  if (e - s > 9 || e === s) return NaN;
  let v = 0;
  for (let i = s; i < e; i++) v = v * 10 + b[i] - 48;
  return v;
}

/**
 * `SEC.FRAC:` at p (or, with `counts`, `COUNT:`), read in one pass: the offset of its ':' (-1
 * where the text is no such time), with tsToNs (countToTs) of it in out.tsNs where that is a
 * Number, else NaN.
 */
export function timeAt(
  b: Uint8Array,
  p: number,
  e: number,
  out: RawHeader,
  counts = false,
): number {
  let q = p;
  let s = 0;
  while (q < e && isDigit(b[q])) s = s * 10 + b[q++] - 48;
  const secDigits = q - p;
  if (secDigits === 0) return -1;
  // A clock's count (countToTs), where `counts` allows it.
  if (counts && b[q] === 58 /* : */) {
    out.tsNs = secDigits <= 15 ? s : NaN;
    return q;
  }
  if (b[q] !== 46 /* . */) return -1;
  const frac = ++q;
  let f = 0;
  while (q < e && isDigit(b[q])) f = f * 10 + b[q++] - 48;
  const fracDigits = q - frac;
  if (fracDigits === 0 || b[q] !== 58 /* : */) return -1;
  out.tsNs =
    secDigits <= 7 && fracDigits <= 9 && s < 9007198 ? s * 1e9 + f * POW10[fracDigits] : NaN;
  return q;
}

/**
 * splitEventBody of the text [p, e) for the shape `name: fields` (key and body into `out`); the
 * syscall shapes and a text with no `name:` are left to the text's parse (false).
 */
export function splitEventBytes(b: Uint8Array, p: number, e: number, out: RawHeader): boolean {
  for (let i = p; i < e; i++) {
    const c = b[i];
    if (c === 58 /* : */) {
      out.keyStart = p;
      out.keyEnd = i;
      let s = i + 1;
      while (s < e && b[s] === 32) s++;
      out.bodyStart = s;
      return true;
    }
    if (c === 40 /* ( */ || c === 32 /* space */) return false;
  }
  return false;
}
