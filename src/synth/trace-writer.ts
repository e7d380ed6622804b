// Streams tracefs `trace` text (the shape of /sys/kernel/tracing/trace on 6.12, as in
// traces/lab/6.12-r2/*/A/trace.txt.xz): a `# tracer: nop` header, then one line per event,
//   `<comm right-aligned 16>-<pid left-aligned 7> [<cpu 3 digits>] <flags> <sec 5>.<usec 6>: <body>`.
// Lines go through a fixed buffer (chunk-file.ts): memory stays flat whatever the length; a `.gz`
// name writes gzip.
import { ChunkFile } from './chunk-file.js';

const HEADER = [
  '# tracer: nop',
  '#',
  '#                                _-----=> irqs-off/BH-disabled',
  '#                               / _----=> need-resched',
  '#                              | / _---=> hardirq/softirq',
  '#                              || / _--=> preempt-depth',
  '#                              ||| / _-=> migrate-disable',
  '#                              |||| /     delay',
  '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
  '#              | |         |   |||||     |         |',
];

/** Where lines go: a file, or nowhere (a sweep needs only the outcomes). */
export interface LineSink {
  /** 1-based number of the next line to be written (the header counts). */
  readonly nextLine: number;
  /** Events written so far (lines after the header). */
  readonly events: number;
  line(ts: number, comm: string, pid: number, cpu: number, body: string, flags?: string): number;
  close(): void;
}

export class TraceWriter implements LineSink {
  private out: ChunkFile;
  nextLine = 1;
  events = 0;

  constructor(readonly file: string) {
    this.out = new ChunkFile(file);
    for (const h of HEADER) this.push(h);
  }

  /** Writes one event at `ts` (ns, a whole number of µs) and returns its line number. */
  line(ts: number, comm: string, pid: number, cpu: number, body: string, flags = '.....'): number {
    const sec = Math.floor(ts / 1e9);
    const usec = Math.floor((ts % 1e9) / 1000);
    this.events++;
    return this.push(
      `${comm.padStart(16)}-${String(pid).padEnd(7)} [${String(cpu).padStart(3, '0')}] ${flags} ${String(sec).padStart(5)}.${String(usec).padStart(6, '0')}: ${body}`,
    );
  }

  private push(s: string): number {
    this.out.line(s);
    return this.nextLine++;
  }

  close(): void {
    this.out.close();
  }
}

/** Counts lines without writing them (sweeps, and the calibration check). */
export class NullSink implements LineSink {
  nextLine = HEADER.length + 1;
  events = 0;
  line(): number {
    this.events++;
    return this.nextLine++;
  }
  close(): void {}
}
