// `mmreplay ingest` of binary traces: a trace-cmd `.dat` (v6, v7) or a `perf.data`, read straight
// from their ring-buffer pages / sample records into the tables the text readers fill (events,
// the typed tables, lost_events), plus the file's kallsyms. Chosen by magic bytes (ingest.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { besideMetadata, releaseOf } from './beside.js';
import type { FileSummary, IngestOptions } from './ingest.js';
import { newSummary } from './summary.js';
import { KPROBE_PRINTED, probeRow, probeSources } from '../parse/probes.js';
import { ChunkAppender } from '../store/chunk-appender.js';
import type { Loader } from '../store/loader.js';
import { Catalogue } from '../parse/catalogue.js';
import { TraceInputError } from '../parse/errors.js';
import { FieldTyper, type TableSpec } from '../parse/fields.js';
import type { FieldValue } from '../parse/format.js';
import { detectCompression, openTrace, type Compression } from '../parse/input.js';
import { BinaryFile } from '../parse/binary/bytes.js';
import { binaryRow, latencyFlags } from '../parse/binary/decode.js';
import { CpuEvents } from '../parse/binary/ring-buffer.js';
import { cpuPages, DAT_MAGIC, readDat, type DatFile } from '../parse/binary/tracecmd-dat.js';
import { PERF_MAGIC, readPerf, type PerfFile } from '../parse/binary/perf-data.js';
import type { BinaryFormat, TracingData } from '../parse/binary/tracing-data.js';
import { binaryCursor, type BinaryCursor } from '../parse/binary/binary-cursor.js';

export type BinaryKind = 'trace-cmd-dat' | 'perf-data';

function kindOf(head: Buffer): BinaryKind | null {
  if (head.length >= DAT_MAGIC.length && head.subarray(0, DAT_MAGIC.length).equals(DAT_MAGIC))
    return 'trace-cmd-dat';
  if (head.length >= PERF_MAGIC.length && head.subarray(0, PERF_MAGIC.length).equals(PERF_MAGIC))
    return 'perf-data';
  return null;
}

export interface OpenedBinary {
  kind: BinaryKind;
  /** The file to read: the input, or its decompressed copy in a temporary directory. */
  path: string;
  compression: Compression;
  /** Removes the decompressed copy, if any. */
  cleanup(): void;
}

/**
 * A binary trace at `file`, null when it is not one. A compressed one (`trace.dat.xz`) is
 * decompressed to a temporary file first: the readers seek.
 */
export async function openBinary(file: string): Promise<OpenedBinary | null> {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(16);
      head = head.subarray(0, fs.readSync(fd, head, 0, 16, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null; // the text path reports it
  }
  const kind = kindOf(head);
  if (kind) return { kind, path: file, compression: 'none', cleanup: () => {} };
  const compression = detectCompression(head);
  if (compression === 'none') return null;
  const opened = openTrace(file);
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n >= 16) done();
    };
    const done = () => {
      opened.stream.off('data', onData);
      opened.stream.off('end', done);
      opened.stream.off('error', reject);
      opened.stream.pause();
      resolve(Buffer.concat(chunks));
    };
    opened.stream.on('data', onData);
    opened.stream.once('end', done);
    opened.stream.once('error', reject);
  }).catch(() => null);
  const inner = first ? kindOf(first) : null;
  if (!first || !inner) {
    opened.stream.destroy();
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-'));
  const out = path.join(dir, path.basename(file).replace(/\.(xz|gz|zst|zstd)$/, ''));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const ws = fs.createWriteStream(out);
    ws.write(first);
    opened.stream.resume();
    await pipeline(opened.stream, ws);
  } catch (e) {
    cleanup();
    throw new TraceInputError(file, null, `cannot decompress: ${(e as Error).message}`);
  }
  return { kind: inner, path: out, compression, cleanup };
}

interface Kind {
  event: string;
  code: number;
  spec: TableSpec | null | undefined;
  appender: ChunkAppender | null;
  row: ((buf: Buffer, rec: number, len: number) => FieldValue[]) | null;
  bf: BinaryFormat | null;
  /** A kprobe whose function is still to be named (from its first record). */
  probe?: boolean;
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

const BATCH = 8192;

export async function ingestBinary(
  file: string,
  opened: OpenedBinary,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
): Promise<FileSummary> {
  const bf = new BinaryFile(opened.path);
  try {
    let td: TracingData;
    let le: boolean;
    let cursor: BinaryCursor;
    let metadata: Record<string, unknown>;
    if (opened.kind === 'trace-cmd-dat') {
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
    catalogue.addFormats(td.formatTexts(), `${file} (embedded format files)`);
    const typer = new FieldTyper(catalogue);
    if (td.kallsyms) await storeKallsyms(loader, fileId, td);

    const s = newSummary(fileId, file, opened.kind, opened.compression, fs.statSync(file).size);
    const probes = await probeSources(file, opts);
    const f = opts.filter ?? {};
    const filtering =
      f.pid !== undefined || f.comm !== undefined || f.fromNs !== undefined || f.toNs !== undefined;
    const kinds = new Map<number, Kind>();
    const flagCodes = new Map<number, number>();
    const commCodes = new Map<string, number>();
    const unknownIds = new Set<number>();
    const otherTyped = new Set<string>();
    let id = firstId;
    let ordinal = 0;
    let lastTs: number | bigint | null = null;
    let lastReport = 0;
    while (cursor.next()) {
      ordinal++;
      if (cursor.kind === 'lost') {
        loader.rare('lost_events', [
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
      const type = le ? buf.readUInt16LE(rec) : buf.readUInt16BE(rec);
      let kind = kinds.get(type);
      if (!kind) {
        const fmt = td.formats.get(type) ?? null;
        if (!fmt) unknownIds.add(type);
        kind = {
          event: fmt ? fmt.event : `unknown:id${type}`,
          code: -1,
          spec: undefined,
          appender: null,
          row: null,
          bf: fmt,
        };
        kinds.set(type, kind);
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
      if (kind.code < 0) kind.code = loader.eventNames.code(kind.event);
      let commCode = commCodes.get(comm);
      if (commCode === undefined) commCodes.set(comm, (commCode = loader.comms.code(comm)));
      let flagsCode = -1;
      if (kind.bf && opened.kind === 'trace-cmd-dat') {
        const fl = (buf[rec + kind.bf.flagsOffset] << 8) | buf[rec + kind.bf.preemptOffset];
        let c = flagCodes.get(fl);
        if (c === undefined)
          flagCodes.set(fl, (c = loader.flags.code(latencyFlags(fl >> 8, fl & 0xff))));
        flagsCode = c;
      }
      loader.event(
        id,
        fileId,
        ordinal,
        ts,
        cursor.cpu,
        tid,
        cursor.tgid,
        commCode,
        flagsCode,
        kind.code,
      );
      if (kind.spec === undefined) {
        kind.spec = kind.bf ? typer.spec(kind.event) : null;
        const cf = kind.spec ? catalogue.compiledFormat(kind.event) : null;
        // A table an earlier file made with other columns keeps these records raw in other_events.
        const differs = kind.spec && cf && kind.bf ? await loader.ensureTable(kind.spec) : null;
        if (differs) otherTyped.add(differs);
        if (kind.spec && cf && kind.bf && !differs) {
          kind.appender = loader.typedAppender(kind.spec);
          kind.row = binaryRow(kind.spec, kind.bf, cf, td.kallsyms, le);
          kind.probe = kind.spec.columns.some(
            (c) => c.name === '__probe_ip' || c.name === '__probe_func',
          );
        } else kind.spec = null;
      }
      if (kind.row) {
        const vals = kind.row(buf, rec, len);
        if (kind.probe) {
          kind.probe = false;
          s.probes.push(binaryProbe(kind.event, kind.spec!, vals, td, probes));
        }
        loader.typedRow(kind.appender!, id, vals);
      } else loader.otherEvent(id, kind.event, buf.toString('hex', rec, rec + len), '{}');
      id++;
      s.events++;
      if (s.events % BATCH === 0) {
        loader.endBatch();
        if (opts.onProgress) {
          const now = Date.now();
          if (now - lastReport > 200) {
            lastReport = now;
            opts.onProgress({ file, bytesRead: 0, bytes: s.bytes, events: s.events });
          }
        }
      }
    }
    loader.endBatch();
    opts.onProgress?.({ file, bytesRead: s.bytes, bytes: s.bytes, events: s.events });
    const warnings: string[] = [];
    if (unknownIds.size)
      warnings.push(
        `events whose format the file does not hold, kept in other_events as unknown:idN (raw bytes in args): ids ${[...unknownIds].slice(0, 20).join(', ')}`,
      );
    if (otherTyped.size)
      warnings.push(
        `events whose fields differ from the typed table an earlier file made, kept raw in other_events: ${[...otherTyped].join('; ')}`,
      );
    for (const w of warnings) opts.onWarning?.(`${file}: ${w}`);
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
    opened.cleanup();
  }
}

/** kallsyms rows: the text symbols (t, T, w, W) the probe binding needs. */
async function storeKallsyms(loader: Loader, fileId: number, td: TracingData): Promise<void> {
  const a = new ChunkAppender(await loader.db.conn.createAppender('kallsyms'));
  td.kallsyms!.forEachText((addr, type, name, module) => {
    a.set(0, fileId);
    a.set(1, addr);
    a.set(2, type);
    a.set(3, name);
    a.set(4, module);
    a.endRow();
  });
  a.close();
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

/**
 * Every CPU of every buffer of a `.dat`, merged by timestamp (ties to the lower CPU, as the
 * kernel and trace-cmd merge them), with the file's OFFSET and TSC2NSEC applied.
 */
function datCursor(file: BinaryFile, dat: DatFile): BinaryCursor {
  const streams: CpuEvents[] = [];
  for (const b of dat.buffers) {
    for (const c of b.cpus) {
      if (c.size === 0) continue;
      streams.push(
        new CpuEvents(
          c.cpu,
          cpuPages(file, dat, b, c),
          dat.littleEndian,
          dat.td.longSize,
          dat.td.pageDataOffset,
          (o, p) => file.fail(o, p),
        ),
      );
    }
  }
  const live: CpuEvents[] = [];
  const pending: CpuEvents[] = [...streams];
  const tsc = dat.tsc2nsec;
  const offset = dat.tsOffset;
  const adjust = (t: number | bigint): number | bigint => {
    if (!tsc && offset === 0n) return t;
    let v = BigInt(t);
    if (tsc) v = (v * BigInt(tsc.mult)) >> BigInt(tsc.shift);
    v += offset;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : v;
  };
  let current: CpuEvents | null = null;
  let lostFirst = false;
  const pidOffset = new Map<number, number>();
  for (const f of dat.td.formats.values()) pidOffset.set(f.id, f.pidOffset);
  const le = dat.littleEndian;
  const cur = binaryCursor(() => {
    if (lostFirst) {
      // The event after a lost marker: the stream is already on it.
      lostFirst = false;
      return emit(current!);
    }
    if (current && !current.next()) {
      if (current.pending) {
        const c = current;
        live.splice(live.indexOf(c), 1);
        const n = c.pending;
        c.pending = 0;
        current = null;
        return lost(c.cpu, n);
      }
      live.splice(live.indexOf(current), 1);
    }
    while (pending.length) {
      const s = pending.pop()!;
      if (s.next()) live.push(s);
    }
    if (!live.length) return false;
    let best = live[0];
    for (let i = 1; i < live.length; i++) {
      const s = live[i];
      if (s.ts < best.ts || (s.ts === best.ts && s.cpu < best.cpu)) best = s;
    }
    current = best;
    if (best.missed) {
      const n = best.missed;
      best.missed = 0;
      lostFirst = true;
      return lost(best.cpu, n);
    }
    return emit(best);
  });
  /** A lost-events record: n events dropped on cpu. */
  const lost = (cpu: number, n: number): boolean => {
    cur.kind = 'lost';
    cur.cpu = cpu;
    cur.lost = n;
    return true;
  };
  const emit = (s: CpuEvents): boolean => {
    cur.kind = 'event';
    cur.ts = adjust(s.ts);
    cur.cpu = s.cpu;
    cur.buf = s.buf;
    cur.rec = s.rec;
    cur.len = s.len;
    const type = le ? s.buf.readUInt16LE(s.rec) : s.buf.readUInt16BE(s.rec);
    const po = pidOffset.get(type) ?? 4;
    cur.tid =
      s.len >= po + 4 ? (le ? s.buf.readInt32LE(s.rec + po) : s.buf.readInt32BE(s.rec + po)) : 0;
    return true;
  };
  return cur;
}
