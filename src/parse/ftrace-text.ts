// Reader for the tracefs `trace` file (with its `#` header) and `trace_pipe` output.
import { EVENT, HEADER, lostMarker, tsToNs, type EventHeader, type LineReader, type LineResult } from './record.js';

// comm-pid [(tgid)] [cpu] [flags] sec.usec: body
const LINE =
  /^\s*(.*?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([^\s\d][^\s]{2,5}|[.\w]{4,6})\s+)?(\d+)\.(\d+):\s(.*)$/;

export class FtraceTextReader implements LineReader {
  readonly format = 'ftrace' as const;
  private meta: Record<string, unknown> = {};

  parse(line: string, out: EventHeader): LineResult {
    if (line.charCodeAt(0) === 35 /* # */) return this.header(line);
    const m = LINE.exec(line);
    if (!m) {
      const lost = lostMarker(line);
      if (lost) return lost;
      if (line.trim() === '') return HEADER;
      return { kind: 'unparsed', reason: 'expected `COMM-PID [CPU] FLAGS SECONDS.USECS: EVENT...`' };
    }
    out.comm = m[1];
    out.tid = +m[2];
    out.tgid = m[3] && m[3][0] !== '-' ? +m[3] : null;
    out.cpu = +m[4];
    out.flags = m[5] ?? null;
    out.tsNs = tsToNs(m[6], m[7]);
    splitEventBody(m[8], out);
    return EVENT;
  }

  private header(line: string): LineResult {
    let m = /^# tracer: (\S+)/.exec(line);
    if (m) this.meta.tracer = m[1];
    m = /entries-in-buffer\/entries-written: (\d+)\/(\d+)\s+#P:(\d+)/.exec(line);
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
