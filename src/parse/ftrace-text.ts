// Reader for the tracefs `trace` file (with its `#` header) and `trace_pipe` output.
import {
  EVENT,
  GIVE_UP,
  HEADER,
  MATCH,
  NO_MATCH,
  digitsEnd,
  isDigit,
  lostMarker,
  smallDecimal,
  splitEventBytes,
  stackFrame,
  countToTs,
  timeAt,
  tsToNs,
  type EventHeader,
  type LineReader,
  type LineResult,
  type RawHeader,
} from './record.js';

// comm-pid [(tgid)] [cpu] [flags] sec.usec: body; a clock that counts no ns (x86-tsc, counter,
// uptime) prints its count for the time (kernel/trace/trace_output.c, trace_print_context).
const LINE =
  /^\s*(.*?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([^\s\d][^\s]{2,5}|[.\w]{4,6})\s+)?(\d+)(?:\.(\d+))?:\s(.*)$/;

// options/latency-format: comm-pid cpu+flags time: body; the comm cut to 8 characters, the time in
// µs since the buffer's start and a mark of the gap to the next event (trace_output.c,
// lat_print_generic and lat_print_timestamp), or a counting clock's bare count.
const LATENCY_LINE = /^\s*(.*?)-(\d+)\s+(\d+)([^\s\d]\S{3,5})\s+(\d+)(us)?[ !#$*+@]?:\s(.*)$/;

/** metadata().timestamps of a latency-format trace. */
export const LATENCY_TIMES = "µs since the trace buffer's start (latency-format), comms cut to 8";

/** metadata().timestamps of a trace whose times are a clock's counts, not ns. */
export const CLOCK_COUNTS = 'clock counts (x86-tsc, counter or uptime trace_clock), not ns';

export class FtraceTextReader implements LineReader {
  readonly format = 'ftrace' as const;
  private meta: Record<string, unknown> = {};

  parse(line: string, out: EventHeader): LineResult {
    if (line.charCodeAt(0) === 35 /* # */) return this.header(line);
    const m = LINE.exec(line);
    if (!m) {
      const l = LATENCY_LINE.exec(line);
      if (l) return this.latencyLine(l, out);
      const lost = lostMarker(line) ?? stackFrame(line);
      if (lost) return lost;
      if (line.trim() === '') return HEADER;
      return {
        kind: 'unparsed',
        reason: 'expected `COMM-PID [CPU] FLAGS SECONDS.USECS: EVENT...`',
      };
    }
    out.comm = m[1];
    out.tid = +m[2];
    out.tgid = m[3] && m[3][0] !== '-' ? +m[3] : null;
    out.cpu = +m[4];
    out.flags = m[5] ?? null;
    if (m[7] === undefined) {
      out.tsNs = countToTs(m[6]);
      this.meta.timestamps = CLOCK_COUNTS;
    } else out.tsNs = tsToNs(m[6], m[7]);
    splitEventBody(m[8], out);
    return EVENT;
  }

  /** A LATENCY_LINE match: its time is µs since the buffer's start (a count for a counting clock). */
  private latencyLine(m: RegExpExecArray, out: EventHeader): LineResult {
    out.comm = m[1];
    out.tid = +m[2];
    out.tgid = null;
    out.cpu = +m[3];
    out.flags = m[4];
    if (m[6] === undefined) {
      out.tsNs = countToTs(m[5]);
      this.meta.timestamps = CLOCK_COUNTS;
    } else {
      out.tsNs = countToTs(m[5] + '000');
      this.meta.timestamps ??= LATENCY_TIMES;
    }
    splitEventBody(m[7], out);
    return EVENT;
  }

  /** parse() of a line's bytes where LINE matches, as LINE reads it (record.ts RawHeader). */
  scan(b: Buffer, s: number, e: number, out: RawHeader): boolean {
    if (b[s] === 35 /* # */) return false;
    let p = s;
    while (p < e && b[p] === 32) p++;
    out.commStart = p;
    // The comm ends at the first '-' after which the rest of LINE matches.
    for (let d = p; d < e; d++) {
      if (b[d] !== 45 /* - */) continue;
      const r = afterComm(b, d + 1, e, out);
      if (r === NO_MATCH) continue;
      out.commEnd = d;
      return r === MATCH;
    }
    return false;
  }

  private header(line: string): LineResult {
    let m = /^# tracer: (\S+)/.exec(line);
    if (m) this.meta.tracer = m[1];
    // The latency format's header says it as `# latency: 0 us, #45472/50875, CPU#0 | (... #P:2)`.
    m =
      /entries-in-buffer\/entries-written: (\d+)\/(\d+)\s+#P:(\d+)/.exec(line) ??
      /^# latency: \d+ us, #(\d+)\/(\d+), .*#P:(\d+)\)/.exec(line);
    if (m) {
      this.meta.entries_in_buffer = +m[1];
      this.meta.entries_written = +m[2];
      this.meta.cpus = +m[3];
      const lost = +m[2] - +m[1];
      if (lost > 0) return { kind: 'lost', cpu: null, count: lost };
    }
    // Other `#` lines (column legend, `##### CPU N buffer started ####`) are header lines.
    return HEADER;
  }

  metadata(): Record<string, unknown> {
    return this.meta;
  }
}

/** LINE from just after the comm's '-': `PID [(TGID)] [CPU] [FLAGS] SEC.USEC: ` and the event. */
function afterComm(b: Buffer, p: number, e: number, out: RawHeader): number {
  let q = digitsEnd(b, p, e);
  if (q === p || q >= e || b[q] !== 32) return NO_MATCH;
  out.tid = smallDecimal(b, p, q);
  p = q;
  while (p < e && b[p] === 32) p++;
  out.tgid = -1;
  if (b[p] === 40 /* ( */) {
    q = p + 1;
    while (q < e && b[q] === 32) q++;
    const v = q;
    if (isDigit(b[q])) q = digitsEnd(b, q, e);
    else while (q < e && b[q] === 45) q++;
    if (q === v || b[q] !== 41 /* ) */ || b[q + 1] !== 32) return NO_MATCH;
    if (isDigit(b[v])) out.tgid = smallDecimal(b, v, q);
    if (out.tgid !== out.tgid) return GIVE_UP;
    p = q + 1;
    while (p < e && b[p] === 32) p++;
  }
  const at = cpuFlagsTime(b, p, e, out, 6, true);
  return at <= 0 ? at : splitEventBytes(b, at, e, out) ? MATCH : GIVE_UP;
}

/**
 * A line's `[CPU] [FLAGS] SEC.FRAC: ` from its '[' at p into out (FLAGS: 3 to flagsMax characters,
 * isFlags; `counts`: the time may be a clock's count, timeAt): the offset past the ': ', else
 * NO_MATCH, or GIVE_UP where a number is out of range.
 */
export function cpuFlagsTime(
  b: Uint8Array,
  p: number,
  e: number,
  out: RawHeader,
  flagsMax: number,
  counts = false,
): number {
  if (b[p] !== 91 /* [ */) return NO_MATCH;
  let q = digitsEnd(b, p + 1, e);
  if (q === p + 1 || b[q] !== 93 /* ] */ || b[q + 1] !== 32) return NO_MATCH;
  out.cpu = smallDecimal(b, p + 1, q);
  p = q + 1;
  while (p < e && b[p] === 32) p++;
  // Most lines have no FLAGS: a time right here is no FLAGS word (it holds a ':').
  let colon = timeAt(b, p, e, out, counts);
  if (colon < 0) {
    // FLAGS: a word of 3 to flagsMax not starting with a digit, or of 4 to flagsMax of [.\w].
    q = p;
    while (q < e && b[q] !== 32) q++;
    if (q >= e || !isFlags(b, p, q, flagsMax)) return NO_MATCH;
    out.flagsStart = p;
    out.flagsEnd = q;
    p = q;
    while (p < e && b[p] === 32) p++;
    colon = timeAt(b, p, e, out, counts);
    if (colon < 0) return NO_MATCH;
  } else out.flagsStart = -1;
  if (colon + 1 >= e || b[colon + 1] !== 32) return NO_MATCH;
  if (out.tid !== out.tid || out.cpu !== out.cpu || out.tsNs !== out.tsNs) return GIVE_UP;
  return colon + 2;
}

/**
 * Whether the word [s, e) (followed by a space) is LINE's FLAGS: `[^\s\d][^\s]{2,max-1}` or
 * `[.\w]{4,max}`.
 */
export function isFlags(b: Uint8Array, s: number, e: number, max: number): boolean {
  const n = e - s;
  if (n >= 3 && n <= max && !isDigit(b[s])) return true;
  if (n < 4 || n > max) return false;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (!(c === 46 || c === 95 || isDigit(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 122)))
      return false;
  }
  return true;
}

/**
 * Splits `name: fields` and the tracefs syscall shapes `sys_mmap(addr: 0, ...)` and
 * `sys_mmap -> 0x7f...` into name and body; the system is resolved later from the catalogue.
 */
export function splitEventBody(rest: string, out: EventHeader): void {
  out.event = null;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 58 /* : */) {
      out.name = rest.slice(0, i);
      let b = i + 1;
      while (rest.charCodeAt(b) === 32 /* space */) b++;
      out.body = rest.slice(b);
      return;
    }
    if (c === 40 /* ( */ && rest.startsWith('sys_')) {
      out.name = 'sys_enter_' + rest.slice(4, i);
      out.event = 'syscalls:' + out.name;
      out.body = rest.slice(i);
      return;
    }
    if (c === 32 /* space */) {
      if (rest.startsWith('sys_') && rest.startsWith(' -> ', i)) {
        out.name = 'sys_exit_' + rest.slice(4, i);
        out.event = 'syscalls:' + out.name;
        out.body = rest.slice(i + 4);
        return;
      }
      break;
    }
  }
  out.name = rest;
  out.body = '';
}
