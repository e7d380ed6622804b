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

/** A field value for the `.dat` (tracecmd-dat-writer.ts says how each kind is written). */
export type { RecordValue as Field } from '../parse/binary/tracecmd-dat-writer.js';
import type { RecordValue as Field } from '../parse/binary/tracecmd-dat-writer.js';

/** Where events go: tracefs text, a `.dat` (dat-sink.ts), or nowhere (a sweep needs only the
 *  outcomes). */
export interface LineSink {
  /** Events written so far. */
  readonly events: number;
  /**
   * Writes one event at `ts` (ns, a whole number of µs) and returns its line number as ingest
   * will number it (`events.line_no`). The sink calls the thunk it needs: `body` (the text after
   * `TIMESTAMP: `) or `fields` (values in the format file's field order, probe address fields
   * left out).
   */
  line(
    ts: number,
    comm: string,
    pid: number,
    cpu: number,
    event: string,
    fields: () => Field[],
    body: () => string,
    flags?: string,
  ): number;
  close(): void;
}

export class TraceWriter implements LineSink {
  private out: ChunkFile;
  private nextLine = 1;
  events = 0;

  constructor(readonly file: string) {
    this.out = new ChunkFile(file);
    for (const h of HEADER) this.push(h);
  }

  line(
    ts: number,
    comm: string,
    pid: number,
    cpu: number,
    _event: string,
    _fields: () => Field[],
    body: () => string,
    flags = '.....',
  ): number {
    const sec = Math.floor(ts / 1e9);
    const usec = Math.floor((ts % 1e9) / 1000);
    this.events++;
    return this.push(
      `${comm.padStart(16)}-${String(pid).padEnd(7)} [${String(cpu).padStart(3, '0')}] ${flags} ${String(sec).padStart(5)}.${String(usec).padStart(6, '0')}: ${body()}`,
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
  private nextLine = HEADER.length + 1;
  events = 0;
  line(): number {
    this.events++;
    return this.nextLine++;
  }
  close(): void {}
}
