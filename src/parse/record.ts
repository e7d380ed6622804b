// The normalized event every reader produces, whatever the text format.

export type TraceFormat = 'ftrace' | 'trace-cmd' | 'perf';

export interface EventHeader {
  comm: string;
  tid: number;
  tgid: number | null;
  cpu: number;
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
  | { kind: 'unparsed'; reason: string };

export const EVENT: LineResult = { kind: 'event' };

// Every lost-events marker the text formats print: the kernel's (tracefs trace and trace_pipe)
// `CPU:N [LOST M EVENTS]`, trace-cmd report's `CPU:N [M EVENTS DROPPED]`, and both without a count
// when the tracer could not count them; trace-cmd may put an instance name first.
const LOST_MARKER = /^\s*(?:[\w.-]+:\s+)?CPU:\s*(\d+) \[(?:LOST (?:(\d+) )?EVENTS|(?:(\d+) )?EVENTS DROPPED)\]\s*$/;
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
  /** Trace-level metadata gathered from header lines. */
  metadata(): Record<string, unknown>;
}

export function newHeader(): EventHeader {
  return { comm: '', tid: 0, tgid: null, cpu: 0, flags: null, tsNs: 0, event: null, name: '', body: '', buffer: null };
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
