// Guesses a trace's text format from its first lines.
import { FtraceTextReader } from './ftrace-text.js';
import { PerfScriptReader } from './perf-script.js';
import { newHeader, type LineReader, type TraceFormat } from './record.js';
import { TraceCmdReportReader } from './tracecmd-report.js';

export const FORMATS: TraceFormat[] = ['ftrace', 'trace-cmd', 'perf'];

export function readerFor(format: TraceFormat): LineReader {
  switch (format) {
    case 'ftrace':
      return new FtraceTextReader();
    case 'trace-cmd':
      return new TraceCmdReportReader();
    case 'perf':
      return new PerfScriptReader();
  }
}

/**
 * Scores each reader on a sample of lines; ties go to the more specific shape
 * (tracefs has a flags column, perf a `system:` prefix, trace-cmd neither).
 */
export function detectFormat(sample: string[]): TraceFormat | null {
  const head = sample.find((l) => l.trim() !== '') ?? '';
  if (head.startsWith('# tracer:')) return 'ftrace';
  if (/^cpus=\d+$/.test(head.trim()) || /^version = \d+$/.test(head.trim())) return 'trace-cmd';
  const lines = sample.filter((l) => l.trim() !== '' && !l.startsWith('#')).slice(0, 200);
  if (!lines.length) return null;
  const score = (f: TraceFormat) => {
    const r = readerFor(f);
    const h = newHeader();
    let n = 0;
    for (const l of lines) {
      const kind = r.parse(l, h).kind;
      // Under each perf sample recorded with -g, its call chain: a line a frame.
      if (kind === 'frame') n++;
      if (kind !== 'event') continue;
      n += 2;
      if (f === 'ftrace' && h.flags) n++;
      if (f === 'trace-cmd' && !h.flags) n++;
    }
    return n;
  };
  let best: TraceFormat | null = null;
  let bestScore = 0;
  for (const f of ['perf', 'ftrace', 'trace-cmd'] as TraceFormat[]) {
    const s = score(f);
    if (s > bestScore) {
      best = f;
      bestScore = s;
    }
  }
  return bestScore >= lines.length ? best : null;
}
