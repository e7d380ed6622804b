// Reader for `perf script` text: the default fields and `-F comm,pid,tid,cpu,time,event,trace`.
import { EVENT, HEADER, lostMarker, tsToNs, type EventHeader, type LineReader, type LineResult } from './record.js';

// comm tid|pid/tid [cpu] sec.frac: system:name: body
const LINE = /^\s*(.*?)\s+(\d+)(?:\/(\d+))?\s+\[(\d+)\]\s+(\d+)\.(\d+):\s+(?:\d+\s+)?([\w-]+):([\w-]+):\s?(.*)$/;

export class PerfScriptReader implements LineReader {
  readonly format = 'perf' as const;

  parse(line: string, out: EventHeader): LineResult {
    const m = LINE.exec(line);
    if (!m) {
      if (line.trim() === '' || line.startsWith('#')) return HEADER;
      const lost = lostMarker(line);
      if (lost) return lost;
      return { kind: 'unparsed', reason: 'expected `COMM PID[/TID] [CPU] SECONDS.FRACTION: SYSTEM:EVENT: FIELDS`' };
    }
    out.comm = m[1];
    if (m[3] !== undefined) {
      out.tgid = +m[2];
      out.tid = +m[3];
    } else {
      out.tgid = null;
      out.tid = +m[2];
    }
    out.cpu = +m[4];
    out.flags = null;
    out.tsNs = tsToNs(m[5], m[6]);
    out.name = m[8];
    out.event = `${m[7]}:${m[8]}`;
    out.body = m[9].replace(/^ +/, '');
    out.buffer = null;
    return EVENT;
  }

  metadata(): Record<string, unknown> {
    return {};
  }
}
