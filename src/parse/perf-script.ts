// Reader for `perf script` text: the default fields and any `-F` list with tid (or pid/tid), time,
// event and trace: with or without comm, cpu, misc, tod and period.
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
  timeAt,
  tsToNs,
  type EventHeader,
  type LineReader,
  type LineResult,
  type RawHeader,
} from './record.js';

// A call chain frame under a sample (perf record -g): `\tffffffff815fe696 sym+0x46 ([kernel.kallsyms])`.
const FRAME = /^\s+([0-9a-f]{1,16}) (.*?) ?\((.*)\)$/;
// What --show-task-events, --show-mmap-events and the like print between samples.
const SIDE_BAND = /^\s*.*?\s+\d+(?:\/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:\s+(PERF_RECORD_[A-Z0-9_]+)/;
// comm tid|pid/tid [cpu] [misc] [tod] sec.frac: [period] system:name: body, in the order perf
// prints the fields it is given (-F; tools/perf/builtin-script.c, perf_sample__fprintf_start):
// misc is a few letters (K, U, H, G, g), tod the time of day (2026-11-25 14:44:33.407034).
const LINE =
  /^\s*(.*?)\s+(\d+)(?:\/(\d+))?\s+(?:\[(\d+)\]\s+)?(?:[A-Za-z]{1,5}\s+)?(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\s+)?(\d+)\.(\d+):\s+(?:\d+\s+)?([\w-]+):([\w-]+):\s?(.*)$/;

export class PerfScriptReader implements LineReader {
  readonly format = 'perf' as const;

  parse(line: string, out: EventHeader): LineResult {
    const m = LINE.exec(line);
    if (!m) {
      if (line.trim() === '' || line.startsWith('#')) return HEADER;
      const lost = lostMarker(line);
      if (lost) return lost;
      const f = FRAME.exec(line);
      if (f) return { kind: 'frame', ip: f[1], symbol: f[2], dso: f[3] };
      const side = SIDE_BAND.exec(line);
      if (side)
        return {
          kind: 'unparsed',
          reason: `perf's side-band record ${side[1]} (perf script --show-*-events), not a sample`,
        };
      return {
        kind: 'unparsed',
        reason: 'expected `COMM PID[/TID] [CPU] SECONDS.FRACTION: SYSTEM:EVENT: FIELDS`',
      };
    }
    out.comm = m[1];
    if (m[3] !== undefined) {
      out.tgid = +m[2];
      out.tid = +m[3];
    } else {
      out.tgid = null;
      out.tid = +m[2];
    }
    out.cpu = m[4] === undefined ? null : +m[4];
    out.flags = null;
    out.tsNs = tsToNs(m[5], m[6]);
    out.name = m[8];
    out.event = `${m[7]}:${m[8]}`;
    out.body = m[9].replace(/^ +/, '');
    out.buffer = null;
    return EVENT;
  }

  /**
   * parse() of a line's bytes where LINE matches, as LINE reads it (record.ts RawHeader; the key
   * is `system:name`).
   */
  scan(b: Buffer, s: number, e: number, out: RawHeader): boolean {
    let p = s;
    while (p < e && b[p] === 32) p++;
    out.commStart = p;
    // The comm ends at the first run of spaces after which the rest of LINE matches.
    for (let c = p + 1; c < e; c++) {
      if (b[c] !== 32 || b[c - 1] === 32) continue;
      const r = afterComm(b, c, e, out);
      if (r === NO_MATCH) continue;
      out.commEnd = c;
      return r === MATCH;
    }
    return false;
  }

  metadata(): Record<string, unknown> {
    return {};
  }
}

/** `[\w-]` */
function isNameChar(c: number): boolean {
  return c === 45 || c === 95 || isDigit(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
}

/** LINE from the spaces after the comm: `PID[/TID] [[CPU]] SEC.FRAC: [PERIOD] SYSTEM:NAME: `. */
function afterComm(b: Buffer, p: number, e: number, out: RawHeader): number {
  while (p < e && b[p] === 32) p++;
  let q = digitsEnd(b, p, e);
  if (q === p) return NO_MATCH;
  const first = smallDecimal(b, p, q);
  if (b[q] === 47 /* / */) {
    const t = q + 1;
    q = digitsEnd(b, t, e);
    if (q === t || b[q] !== 32) return NO_MATCH;
    out.tgid = first;
    out.tid = smallDecimal(b, t, q);
  } else {
    if (b[q] !== 32 || q >= e) return NO_MATCH;
    out.tgid = -1;
    out.tid = first;
  }
  p = q;
  while (p < e && b[p] === 32) p++;
  out.cpu = -1;
  if (b[p] === 91 /* [ */) {
    q = digitsEnd(b, p + 1, e);
    if (q === p + 1 || b[q] !== 93 /* ] */ || b[q + 1] !== 32) return NO_MATCH;
    out.cpu = smallDecimal(b, p + 1, q);
    p = q + 1;
    while (p < e && b[p] === 32) p++;
  }
  // misc letters and tod are rare: such lines go by LINE.
  p = timeAt(b, p, e, out);
  if (p < 0 || p + 1 >= e || b[p + 1] !== 32) return NO_MATCH;
  p += 1;
  while (p < e && b[p] === 32) p++;
  // A period first, where perf prints one.
  q = digitsEnd(b, p, e);
  if (q > p && q < e && b[q] === 32) {
    p = q;
    while (p < e && b[p] === 32) p++;
  }
  out.keyStart = p;
  q = p;
  while (q < e && isNameChar(b[q])) q++;
  if (q === p || b[q] !== 58 /* : */) return NO_MATCH;
  const n = q + 1;
  q = n;
  while (q < e && isNameChar(b[q])) q++;
  if (q === n || b[q] !== 58 /* : */) return NO_MATCH;
  out.keyEnd = q;
  p = q + 1;
  while (p < e && b[p] === 32) p++;
  out.bodyStart = p;
  out.flagsStart = -1;
  if (out.tid !== out.tid || out.tgid !== out.tgid || out.cpu !== out.cpu || out.tsNs !== out.tsNs)
    return GIVE_UP;
  return MATCH;
}
