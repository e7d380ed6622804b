// Reader for `trace-cmd report` text: default, `-l` (latency flags) and `-t` (ns timestamps),
// with or without the `cpus=N` first line and per-instance buffer prefixes.
import { cpuFlagsTime, splitEventBody } from './ftrace-text.js';
import {
  EVENT,
  GIVE_UP,
  HEADER,
  MATCH,
  NO_MATCH,
  digitsEnd,
  lostMarker,
  smallDecimal,
  splitEventBytes,
  stackFrame,
  tsToNs,
  type EventHeader,
  type LineReader,
  type LineResult,
  type RawHeader,
} from './record.js';

// [BUFFER:] comm-pid [cpu] [flags] sec.frac: name: body
const LINE =
  /^\s*(?:([\w.-]+):\s+)?(.*?)-(\d+)\s+\[(\d+)\]\s+(?:([^\s\d][^\s]{2,6}|[.\w]{4,7})\s+)?(\d+)\.(\d+):\s+(.*)$/;
// `-l`: the CPU number runs into the latency flags: `anon-365     0.....   513.146434: ...`
const LATENCY_LINE =
  /^\s*(?:([\w.-]+):\s+)?(.*?)-(\d+)\s+(\d+)([^\s\d]\S{3,6})\s+(\d+)\.(\d+):\s+(.*)$/;

export class TraceCmdReportReader implements LineReader {
  readonly format = 'trace-cmd' as const;
  private meta: Record<string, unknown> = {};

  parse(line: string, out: EventHeader): LineResult {
    const m = LINE.exec(line) ?? LATENCY_LINE.exec(line);
    if (m) {
      out.buffer = m[1] ?? null;
      out.comm = m[2];
      out.tid = +m[3];
      out.tgid = null;
      out.cpu = +m[4];
      out.flags = m[5] ?? null;
      out.tsNs = tsToNs(m[6], m[7]);
      splitEventBody(m[8], out);
      return EVENT;
    }
    const t = line.trim();
    if (t === '') return HEADER;
    let h = /^cpus=(\d+)$/.exec(t);
    if (h) {
      this.meta.cpus = +h[1];
      return HEADER;
    }
    h = /^version = (\d+)$/.exec(t);
    if (h) {
      this.meta.version = +h[1];
      return HEADER;
    }
    if (/^CPU \d+ is empty$|^CPU\d+ data recorded at offset|^\s*#/.test(t)) return HEADER;
    const lost = lostMarker(t) ?? stackFrame(line);
    if (lost) return lost;
    return {
      kind: 'unparsed',
      reason: 'expected `[BUFFER:] COMM-PID [CPU] [FLAGS] SECONDS.FRACTION: EVENT: FIELDS`',
    };
  }

  /** parse() of a line's bytes where LINE matches, as LINE reads it (record.ts RawHeader). */
  scan(b: Buffer, s: number, e: number, out: RawHeader): boolean {
    let p = s;
    while (p < e && b[p] === 32) p++;
    // `BUFFER: ` first where there is one and the rest matches after it, else from the start.
    let q = p;
    while (q < e && isBufferChar(b[q])) q++;
    if (q > p && b[q] === 58 /* : */ && b[q + 1] === 32) {
      let c = q + 1;
      while (c < e && b[c] === 32) c++;
      const r = fromComm(b, c, e, out);
      if (r !== NO_MATCH) return r === MATCH;
    }
    return fromComm(b, p, e, out) === MATCH;
  }

  metadata(): Record<string, unknown> {
    return this.meta;
  }
}

/** `[\w.-]` */
function isBufferChar(c: number): boolean {
  return (
    c === 45 ||
    c === 46 ||
    c === 95 ||
    (c >= 48 && c <= 57) ||
    ((c | 0x20) >= 97 && (c | 0x20) <= 122)
  );
}

/** LINE from where its comm starts: the comm ends at the first '-' after which the rest matches. */
function fromComm(b: Buffer, p: number, e: number, out: RawHeader): number {
  out.commStart = p;
  for (let d = p; d < e; d++) {
    if (b[d] !== 45 /* - */) continue;
    const r = afterComm(b, d + 1, e, out);
    if (r === NO_MATCH) continue;
    out.commEnd = d;
    return r;
  }
  return NO_MATCH;
}

/** LINE from just after the comm's '-': `PID [CPU] [FLAGS] SEC.FRAC: ` and the event. */
function afterComm(b: Buffer, p: number, e: number, out: RawHeader): number {
  const q = digitsEnd(b, p, e);
  if (q === p || q >= e || b[q] !== 32) return NO_MATCH;
  out.tid = smallDecimal(b, p, q);
  out.tgid = -1;
  p = q;
  while (p < e && b[p] === 32) p++;
  const at = cpuFlagsTime(b, p, e, out, 7);
  if (at <= 0) return at;
  p = at;
  while (p < e && b[p] === 32) p++;
  return splitEventBytes(b, p, e, out) ? MATCH : GIVE_UP;
}
