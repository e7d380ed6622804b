// The generator's events as a trace-cmd `.dat` (v6) of the lab's 6.12 kernel with probe set A:
// the format files, kprobe addresses, kallsyms and uname of a lab recording (dat-kernel.json,
// made by scripts/snapshot-synth-dat.ts), each event a ring-buffer record of its CPU.
import { latencyBits } from '../parse/binary/decode.js';
import { Kallsyms, symbolAddr } from '../parse/binary/kallsyms.js';
import { DatWriter, recordEncoder } from '../parse/binary/tracecmd-dat-writer.js';
import { binaryFormat, type BinaryFormat } from '../parse/binary/tracing-data.js';
// Imported, not read: the build emits it beside the compiled module.
import kernel from './dat-kernel.json' with { type: 'json' };
import type { Field, LineSink } from './trace-writer.js';

type Encode = ReturnType<typeof recordEncoder>;

export class DatSink implements LineSink {
  events = 0;
  private readonly out: DatWriter;
  private readonly formats: BinaryFormat[] = [];
  private readonly encoders = new Map<string, Encode>();
  private readonly flagBits = new Map<string, [number, number]>();
  /** saved_cmdlines: one entry a task (forks add theirs), not an event. */
  private readonly comms = new Map<number, string>();
  private readonly rec = Buffer.alloc(4096);
  /** The last record's time in the file and its CPU (see line()). */
  private lastTs = -1;
  private lastCpu = 0;

  constructor(file: string, cpus: number) {
    this.out = new DatWriter(file, cpus);
    const symbols = new Map<string, bigint>();
    Kallsyms.parse(kernel.kallsyms).forEachText((hi, lo, _t, name) =>
      symbols.set(name, symbolAddr(hi, lo)),
    );
    const resolved = new Map<string, bigint>();
    // `name+0xoff/0xsize` as %pS prints it: the symbol's address plus the offset.
    const symbol = (text: string): bigint => {
      let a = resolved.get(text);
      if (a === undefined) {
        const m = /^([\w.]+)(?:\+(0x[0-9a-f]+))?(?:\/0x[0-9a-f]+)?$/.exec(text);
        const base = m ? symbols.get(m[1]) : undefined;
        if (base === undefined) throw new Error(`synth .dat: no kernel symbol ${text}`);
        resolved.set(text, (a = base + BigInt(m![2] ?? 0)));
      }
      return a;
    };
    const probes = kernel.probes as Record<string, Record<string, string>>;
    for (const [event, text] of Object.entries(kernel.formats)) {
      const bf = binaryFormat(text, event.slice(0, event.indexOf(':')));
      this.formats.push(bf);
      this.encoders.set(event, recordEncoder(bf, probes[event] ?? {}, symbol));
    }
  }

  /**
   * Records at one µs on several CPUs are ordered by CPU when read (the reader's tie rule, as
   * the kernel's and trace-cmd's merge): where the generator wrote a higher CPU's event first,
   * the later one gets the next ns, as a kernel clock, finer than the text's µs, would have
   * ordered them. So the file's order is the text's and `line_no` the same count.
   */
  line(
    ts: number,
    comm: string,
    pid: number,
    cpu: number,
    event: string,
    fields: () => Field[],
    _body: () => string,
    flags = '.....',
  ): number {
    const enc = this.encoders.get(event);
    if (!enc) throw new Error(`synth .dat: no format for ${event}`);
    let bits = this.flagBits.get(flags);
    if (!bits) {
      const b = latencyBits(flags);
      if (!b) throw new Error(`synth .dat: flags ${flags} are no common_flags`);
      this.flagBits.set(flags, (bits = b));
    }
    const len = enc(this.rec, pid, bits[0], bits[1], fields());
    let t = Math.max(ts, this.lastTs);
    if (t === this.lastTs && cpu < this.lastCpu) t++;
    this.out.event(cpu, t, this.rec, len);
    this.lastTs = t;
    this.lastCpu = cpu;
    this.comms.set(pid, comm);
    return ++this.events;
  }

  /** The run failed: no `.dat`, and no temporary files left beside it. */
  discard(): void {
    this.out.discard();
  }

  close(): void {
    this.out.close({
      headerPage: kernel.headerPage,
      headerEvent: kernel.headerEvent,
      formats: this.formats,
      kallsyms: kernel.kallsyms,
      printk: '',
      comms: this.comms,
      clock: 'local',
      uname: kernel.uname,
    });
  }
}
