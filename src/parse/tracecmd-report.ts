// Reader for `trace-cmd report` text: default, `-l` (latency flags) and `-t` (ns timestamps),
// with or without the `cpus=N` first line and per-instance buffer prefixes.
import { splitEventBody } from './ftrace-text.js';
import { EVENT, HEADER, lostMarker, tsToNs, type EventHeader, type LineReader, type LineResult } from './record.js';

// [BUFFER:] comm-pid [cpu] [flags] sec.frac: name: body
const LINE =
  /^\s*(?:([\w.-]+):\s+)?(.*?)-(\d+)\s+\[(\d+)\]\s+(?:([^\s\d][^\s]{2,6}|[.\w]{4,7})\s+)?(\d+)\.(\d+):\s+(.*)$/;
// `-l`: the CPU number runs into the latency flags: `anon-365     0.....   513.146434: ...`
const LATENCY_LINE = /^\s*(?:([\w.-]+):\s+)?(.*?)-(\d+)\s+(\d+)([^\s\d]\S{3,6})\s+(\d+)\.(\d+):\s+(.*)$/;

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
    const lost = lostMarker(t);
    if (lost) return lost;
    return { kind: 'unparsed', reason: 'expected `[BUFFER:] COMM-PID [CPU] [FLAGS] SECONDS.FRACTION: EVENT: FIELDS`' };
  }

  metadata(): Record<string, unknown> {
    return this.meta;
  }
}
