// Binary ingest's parsing half: a trace-cmd `.dat` (v6, v7) or a `perf.data`, read straight from
// its ring-buffer pages / sample records into column batches of the tables the text readers fill
// (events, the typed tables, lost_events), plus the file's kallsyms. It runs on a worker thread
// (parse-worker.ts) while binary.ts, on the main thread, only creates tables and appends what it
// is sent (parse-store.ts); it needs no database, so the fuzz tests run it alone.
import path from 'node:path';
import { besideMetadata, releaseOf } from './beside.js';
import type { IngestFilter } from './ingest.js';
import { BatchParser, type ParseJob } from './parse-link.js';
import { newSummary, type FileSummary } from './summary.js';
import { KPROBE_PRINTED, probeRow, probeSources } from '../parse/probes.js';
import type { ColumnBatch } from '../store/column-batch.js';
import { Catalogue } from '../parse/catalogue.js';
import { TraceInputError } from '../parse/errors.js';
import { FieldTyper, type TableSpec } from '../parse/fields.js';
import type { FieldValue } from '../parse/format.js';
import { BinaryFile, u16be, u16le } from '../parse/binary/bytes.js';
import type { BinaryCursor } from '../parse/binary/binary-cursor.js';
import { datCursor } from '../parse/binary/dat-cursor.js';
import { binaryRow, latencyFlags, type BinaryRow } from '../parse/binary/decode.js';
import { readDat, type DatFile } from '../parse/binary/tracecmd-dat.js';
import { readPerf, type PerfFile } from '../parse/binary/perf-data.js';
import { symbolAddr } from '../parse/binary/kallsyms.js';
import type { BinaryFormat, TracingData } from '../parse/binary/tracing-data.js';

export type BinaryKind = 'trace-cmd-dat' | 'perf-data';

/** What the binary parser is given, besides what every parser is. */
export interface BinaryJob extends ParseJob {
  kind: BinaryKind;
  /** The file to read: `file`, or its decompressed copy. */
  path: string;
  compression: string;
  /** `file`'s size on disk. */
  bytes: number;
  probes?: string[];
  kallsyms?: string;
  filter: IngestFilter;
}

interface Kind {
  event: string;
  code: number;
  spec: TableSpec | null | undefined;
  rows: ColumnBatch | null;
  row: BinaryRow | null;
  bf: BinaryFormat | null;
  /** A kprobe whose function is still to be named (from its first record). */
  probe?: boolean;
}

/** Rows of the smallest batch. */
const MIN_BATCH_ROWS = 256;
/** Events between checks of the batches in flight and progress reports. */
const BATCH = 8192;

/** Parses one binary trace, sending what it finds through `post`; ack() takes batches back. */
export class BinaryParser extends BatchParser<BinaryJob> {
  protected async parse(): Promise<FileSummary> {
    const job = this.job;
    const { file, fileId } = job;
    const bf = new BinaryFile(job.path);
    // A record (or a kallsyms line) takes 12 bytes at least: no table of a small file gets more
    // rows than that allows (unless its data was compressed), and its batches are no larger.
    this.maxRows = Math.max(MIN_BATCH_ROWS, 2 ** Math.ceil(Math.log2(bf.size / 12 + 1)));
    try {
      let td: TracingData;
      let le: boolean;
      let cursor: BinaryCursor;
      let metadata: Record<string, unknown>;
      if (job.kind === 'trace-cmd-dat') {
        const dat = readDat(bf);
        td = dat.td;
        le = dat.littleEndian;
        cursor = datCursor(bf, dat);
        metadata = datMetadata(dat);
      } else {
        const perf = readPerf(bf);
        td = perf.td;
        le = perf.littleEndian;
        cursor = perf.cursor();
        metadata = perfMetadata(perf);
      }
      const catalogue = new Catalogue();
      const ids = td.eventIds();
      catalogue.addLazy(
        ids.keys(),
        (event) => td.format(ids.get(event)!)!.format,
        `${file} (embedded format files)`,
      );
      const typer = new FieldTyper(catalogue);
      if (td.kallsyms) this.kallsymsRows(td);

      const s = newSummary(fileId, file, job.kind, job.compression, job.bytes);
      const probes = await probeSources(file, job);
      const f = job.filter;
      const filtering =
        f.pid !== undefined ||
        f.comm !== undefined ||
        f.fromNs !== undefined ||
        f.toNs !== undefined;
      const { comms, flags, eventNames } = this.codes();
      const events = this.table('_events');
      const other = this.table('other_events');
      // By event id and by the two flag bytes (both 16 bits): arrays, looked up per record.
      const kinds = new Array<Kind | undefined>(1 << 16);
      const flagCodes = new Int32Array(1 << 16).fill(-1);
      const commCodes = new Map<string, number>();
      const unknownIds = new Set<number>();
      const otherTyped = new Set<string>();
      let id = job.firstId;
      let ordinal = 0;
      let lastTs: number | bigint | null = null;
      let lastReport = 0;
      const isDat = job.kind === 'trace-cmd-dat';
      while (cursor.next()) {
        ordinal++;
        if (cursor.kind === 'lost') {
          this.rare('lost_events', [
            fileId,
            ordinal,
            cursor.cpu < 0 ? null : cursor.cpu,
            cursor.lost < 0 ? null : cursor.lost,
            lastTs,
          ]);
          if (cursor.lost > 0) s.lost += cursor.lost;
          continue;
        }
        const { buf, rec, len } = cursor;
        if (len < 8)
          throw new TraceInputError(
            file,
            null,
            `an event record of ${len} bytes on CPU ${cursor.cpu}, too short for its common fields`,
          );
        const type = le ? u16le(buf, rec) : u16be(buf, rec);
        let kind = kinds[type];
        if (!kind) {
          const fmt = td.format(type);
          if (!fmt) unknownIds.add(type);
          kind = {
            event: fmt ? fmt.event : `unknown:id${type}`,
            code: -1,
            spec: undefined,
            rows: null,
            row: null,
            bf: fmt,
          };
          kinds[type] = kind;
        }
        const tid = cursor.tid;
        const comm = cursor.comm ?? (tid === 0 ? '<idle>' : (td.comms.get(tid) ?? '<...>'));
        const ts = cursor.ts;
        if (filtering) {
          if (
            (f.pid !== undefined && tid !== f.pid && cursor.tgid !== f.pid) ||
            (f.comm !== undefined && comm !== f.comm) ||
            (f.fromNs !== undefined && ts < f.fromNs) ||
            (f.toNs !== undefined && ts > f.toNs)
          ) {
            s.filtered++;
            continue;
          }
        }
        lastTs = ts;
        if (kind.code < 0) kind.code = eventNames.code(kind.event);
        let commCode = commCodes.get(comm);
        if (commCode === undefined) commCodes.set(comm, (commCode = comms.code(comm)));
        let flagsCode = -1;
        if (kind.bf && isDat) {
          const fl = (buf[rec + kind.bf.flagsOffset] << 8) | buf[rec + kind.bf.preemptOffset];
          let c = flagCodes[fl];
          if (c < 0) flagCodes[fl] = c = flags.code(latencyFlags(fl >> 8, fl & 0xff));
          flagsCode = c;
        }
        events.setI64(0, id);
        events.setI32(1, fileId);
        events.setI64(2, ordinal);
        if (typeof ts === 'number') events.setI64(3, ts);
        else events.set(3, ts);
        events.setI32(4, cursor.cpu);
        events.setI32(5, tid);
        if (cursor.tgid === null) events.set(6, null);
        else events.setI32(6, cursor.tgid);
        events.setI32(7, commCode);
        if (flagsCode < 0) events.set(8, null);
        else events.setI32(8, flagsCode);
        events.setI32(9, kind.code);
        events.endRow();
        if (kind.spec === undefined) this.typeKind(kind, typer, catalogue, td, le, otherTyped);
        if (kind.row) {
          if (kind.probe) {
            kind.probe = false;
            const vals = kind.row.values(buf, rec, len);
            s.probes.push(binaryProbe(kind.event, kind.spec!, vals, td, probes));
          }
          const a = kind.rows!;
          a.setI64(0, id);
          kind.row.write(buf, rec, len, a);
          a.endRow();
        } else {
          other.setI64(0, id);
          other.set(1, kind.event);
          other.set(2, buf.toString('hex', rec, rec + len));
          other.set(3, '{}');
          other.endRow();
        }
        id++;
        s.events++;
        if (s.events % BATCH === 0) {
          await this.drain();
          if (job.progress) {
            const now = Date.now();
            if (now - lastReport > 200) {
              lastReport = now;
              this.post({ t: 'progress', bytesRead: 0, bytes: s.bytes, events: s.events });
            }
          }
        }
      }
      if (job.progress)
        this.post({ t: 'progress', bytesRead: s.bytes, bytes: s.bytes, events: s.events });
      const warnings: string[] = [];
      if (unknownIds.size)
        warnings.push(
          `events whose format the file does not hold, kept in other_events as unknown:idN (raw bytes in args): ids ${[...unknownIds].slice(0, 20).join(', ')}`,
        );
      if (otherTyped.size)
        warnings.push(
          `events whose fields differ from the typed table an earlier file made, kept raw in other_events: ${[...otherTyped].join('; ')}`,
        );
      for (const w of warnings) this.post({ t: 'warning', message: `${file}: ${w}` });
      s.lines = ordinal;
      s.metadata = {
        ...metadata,
        ...besideMetadata(file, metadata),
        formats: catalogue.sources,
        warnings,
        basename: path.basename(file),
      };
      return s;
    } finally {
      bf.close();
    }
  }

  /**
   * An event kind's typed table and row maker, at its first record. A table that exists with other
   * columns (an earlier file typed the event otherwise) leaves its records raw in other_events.
   */
  private typeKind(
    kind: Kind,
    typer: FieldTyper,
    catalogue: Catalogue,
    td: TracingData,
    le: boolean,
    otherTyped: Set<string>,
  ): void {
    kind.spec = null;
    const bf = kind.bf;
    if (!bf) return;
    try {
      const spec = typer.spec(kind.event);
      const cf = spec ? catalogue.compiledFormat(kind.event) : null;
      if (!spec || !cf) return;
      const names = this.job.names[spec.table];
      if (names) {
        const types = this.job.types[spec.table];
        const have = names.map((n, i) => `${n} ${types[i]}`).join(', ');
        const shape = ['id BIGINT', ...spec.columns.map((c) => `${c.name} ${c.type}`)].join(', ');
        if (have !== shape) {
          otherTyped.add(`${spec.event} (${shape}; its table ${spec.table} has ${have})`);
          return;
        }
      } else if (!this.hasTable(spec.table))
        this.post({
          t: 'table',
          table: spec.table,
          event: spec.event,
          columns: spec.columns,
          line: null,
        });
      kind.spec = spec;
      kind.rows = this.table(spec.table, ['BIGINT', ...spec.columns.map((c) => c.type)]);
      kind.row = binaryRow(spec, bf, cf, td.kallsyms, le);
      kind.probe = spec.columns.some((c) => c.name === '__probe_ip' || c.name === '__probe_func');
    } catch (e) {
      if (e instanceof TraceInputError) throw e;
      // A format file the parsers cannot compile (one no kernel writes): named where it is.
      throw new TraceInputError(
        this.job.file,
        null,
        `format file of ${kind.event}: ${(e as Error).message.slice(0, 300)}`,
        bf.at,
      );
    }
  }

  /** kallsyms rows: the text symbols (t, T, w, W) the probe binding needs. */
  private kallsymsRows(td: TracingData): void {
    const a = this.table('kallsyms');
    const fileId = this.job.fileId;
    td.kallsyms!.forEachText((hi, lo, type, name, module) => {
      a.setI32(0, fileId);
      if (hi >= 0 && hi < 2 ** 32 && lo >= 0 && lo < 2 ** 32) a.setI64Words(1, lo, hi);
      else a.set(1, symbolAddr(hi, lo));
      a.set(2, type);
      a.set(3, name);
      a.set(4, module);
      a.endRow();
    });
  }
}

/**
 * A kprobe event's `probes` row from its first record: the address it carries (`__probe_ip`, a
 * return probe's `__probe_func`) named by the file's own kallsyms, else as text-printed addresses
 * are (definitions beside the file, a symbol table beside it).
 */
function binaryProbe(
  event: string,
  spec: TableSpec,
  vals: FieldValue[],
  td: TracingData,
  sources: Awaited<ReturnType<typeof probeSources>>,
): FileSummary['probes'][number] {
  const at = (name: string) => {
    const i = spec.columns.findIndex((c) => c.name === name);
    const v = i < 0 ? null : vals[i];
    return v === null || typeof v === 'boolean' || typeof v === 'string' ? null : BigInt(v);
  };
  const ret = at('__probe_ret_ip');
  const addr = at('__probe_func') ?? at('__probe_ip') ?? 0n;
  const hex = (a: bigint) => a.toString(16).padStart(16, '0');
  const head = ret !== null ? `(${hex(addr)} <- ${hex(ret)})` : `(${hex(addr)})`;
  const def =
    sources.byName.get(event) ?? sources.byName.get(event.slice(event.indexOf(':') + 1)) ?? null;
  // The file's own kallsyms, unless the recording hid it (empty): then the one beside the file.
  const kallsyms = td.kallsyms?.size
    ? { table: td.kallsyms, source: 'kallsyms of the file' }
    : sources.kallsyms;
  return probeRow(event, KPROBE_PRINTED.exec(head)!, def, kallsyms);
}

function datMetadata(dat: DatFile): Record<string, unknown> {
  const release = releaseOf(dat.uname);
  return {
    file_version: dat.version,
    ...(release ? { kernel_release: release } : {}),
    uname: dat.uname,
    clock: dat.clock ?? dat.buffers.find((b) => b.clock)?.clock ?? null,
    cpus: dat.cpuCount,
    page_size: dat.pageSize,
    compression: dat.compression ? `${dat.compression.name} ${dat.compression.version}` : 'none',
    trace_cmd_version: dat.traceCmdVersion,
    buffers: dat.buffers.map((b) => ({
      name: b.name,
      clock: b.clock,
      page_size: b.pageSize,
      cpus: b.cpus.filter((c) => c.size > 0).map((c) => c.cpu),
    })),
    ...(dat.tsOffset ? { ts_offset_ns: String(dat.tsOffset) } : {}),
    ...(dat.tsc2nsec
      ? {
          tsc2nsec: {
            mult: dat.tsc2nsec.mult,
            shift: dat.tsc2nsec.shift,
            offset: String(dat.tsc2nsec.offset),
          },
        }
      : {}),
    ...(dat.date ? { date: dat.date } : {}),
    cpu_stats: cpuStats(dat.cpuStats),
    printk_formats: dat.td.printk.size,
    kallsyms: dat.td.kallsyms?.size ?? 0,
  };
}

/**
 * CPUSTAT options as rows: `{ buffer, cpu, entries, overrun, ... }` from each CPU's
 * `per_cpu/cpuN/stats`; a `Buffer: NAME` option starts the next instance's CPUs.
 */
function cpuStats(options: string[]): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  let buffer = '';
  for (const o of options) {
    const b = /^\s*Buffer: (\S+)/.exec(o);
    if (b) {
      buffer = b[1];
      continue;
    }
    const row: Record<string, string | number> = { buffer };
    for (const line of o.split('\n')) {
      const m = /^([^:]+):\s*(.*?)\s*$/.exec(line);
      if (!m) continue;
      const key = m[1].trim().toLowerCase().replace(/\s+/g, '_');
      row[key] = /^\d+$/.test(m[2]) ? Number(m[2]) : m[2];
    }
    out.push(row);
  }
  return out;
}

function perfMetadata(perf: PerfFile): Record<string, unknown> {
  return perf.metadata;
}
