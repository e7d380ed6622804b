// `mmreplay ingest`: reads trace files (any supported format, compressed or not) into DuckDB.
import fs from 'node:fs';
import path from 'node:path';
import type { Sidecar } from '../record/record.js';
import { writeAtomically } from '../store/atomic.js';
import { Db } from '../store/db.js';
import type { ChunkAppender } from '../store/chunk-appender.js';
import { Loader } from '../store/loader.js';
import { besideMetadata } from './beside.js';
import { ingestBinary, openBinary, type BinaryKind } from './binary.js';
import { Catalogue, formatsBeside, sidecarBeside } from '../parse/catalogue.js';
import { detectFormat, readerFor } from '../parse/detect.js';
import { UsageError } from '../errors.js';
import { TraceInputError } from '../parse/errors.js';
import { FieldTyper, genericFields, kprobeTextSpec, type TableSpec } from '../parse/fields.js';
import { openTrace } from '../parse/input.js';
import { readLines } from '../parse/lines.js';
import {
  KPROBE_PRINTED,
  probeRow,
  probeSources,
  type ProbeDefinition,
  type ProbeRow,
} from '../parse/probes.js';
import { newHeader, type LineReader, type TraceFormat } from '../parse/record.js';

export interface IngestFilter {
  pid?: number;
  comm?: string;
  fromNs?: bigint;
  toNs?: bigint;
}

export interface IngestOptions {
  /** The database to write: built beside it and renamed into place when ingest succeeds. */
  db: string;
  /** Start from an empty database instead of appending to the one at `db`. */
  replace?: boolean;
  format?: TraceFormat;
  formatsDir?: string;
  /** Probe definition files (kprobe_events syntax or `perf probe -l`); default: kprobe_events beside the trace. */
  probes?: string[];
  /** A /proc/kallsyms copy or System.map; default: kallsyms(.txt) beside the trace. */
  kallsyms?: string;
  filter?: IngestFilter;
  onProgress?: (p: { file: string; bytesRead: number; bytes: number; events: number }) => void;
  onWarning?: (message: string) => void;
}

export type { ProbeRow };

export interface FileSummary {
  fileId: number;
  path: string;
  format: TraceFormat | BinaryKind;
  compression: string;
  lines: number;
  headerLines: number;
  bytes: number;
  events: number;
  filtered: number;
  unparsed: number;
  lost: number;
  metadata: Record<string, unknown>;
  /** Each kprobe event of the file and the function it probes (the `probes` table). */
  probes: ProbeRow[];
}

/** Parses `3835.535258` (seconds) or `3835535258000ns` into exact ns. */
export function parseTimeArg(s: string): bigint {
  const t = s.trim();
  let m = /^(\d+)ns$/.exec(t);
  if (m) return BigInt(m[1]);
  m = /^(\d+)(?:\.(\d{0,9}))?s?$/.exec(t);
  if (!m)
    throw new UsageError(
      `bad time "${s}": expected SECONDS[.FRACTION] (as the trace prints) or NANOSECONDSns`,
    );
  return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export async function ingest(files: string[], opts: IngestOptions): Promise<FileSummary[]> {
  if (
    opts.replace &&
    opts.db !== ':memory:' &&
    fs.existsSync(opts.db) &&
    fs.statSync(opts.db).size > 0
  ) {
    // Replace only a database of ours: never another program's file.
    const old = await Db.open(opts.db, { readOnly: true });
    try {
      if ((await old.tables()).length) await old.requireOurs();
    } finally {
      old.close();
    }
  }
  return writeAtomically(opts.db, { copy: !opts.replace }, async (file) => {
    const db = await Db.open(file, { create: true, as: opts.db });
    try {
      return await ingestDb(db, files, opts);
    } finally {
      db.close();
    }
  });
}

/** Ingests into an open database in place (`ingest` gives it a copy). */
export async function ingestDb(
  db: Db,
  files: string[],
  opts: Omit<IngestOptions, 'db'>,
): Promise<FileSummary[]> {
  if ((await db.tables()).length) await db.requireOurs();
  {
    // Keep DuckDB's buffer pool small: ingested rows go to the database file, and the pool keeps
    // the blocks it wrote until it reaches the limit (at 128MB, peak RSS rose by ~100 MB per GB
    // of trace up to it). What stays is the code, the appenders' buffers and the JS heap:
    // bench/ingest.ts.
    await db.run(`SET memory_limit = '32MB'; SET threads = 1`);
    const loader = new Loader(db);
    await loader.init();
    const first = await db.rows<{ n: bigint | null; f: number | null }>(
      'SELECT max(id) + 1 AS n, (SELECT max(file_id) + 1 FROM files) AS f FROM _events',
    );
    // Ids are Numbers while ingesting: exact up to 2^53 events.
    let nextId = Number(first[0]?.n ?? 0);
    let fileId = Number(first[0]?.f ?? 0);
    const out: FileSummary[] = [];
    try {
      for (const file of files) {
        const s = await ingestFile(file, fileId++, nextId, loader, opts);
        nextId += s.events;
        out.push(s);
      }
    } catch (e) {
      loader.abort();
      throw e;
    }
    loader.finish();
    for (const s of out) {
      await db.run(
        `INSERT INTO files VALUES (${s.fileId}, ${lit(s.path)}, ${lit(s.format)}, ${lit(s.compression)}, ${s.lines}, ${s.headerLines}, ${s.bytes}, ${s.events}, ${s.filtered}, ${s.unparsed}, ${s.lost}, ${lit(JSON.stringify(s.metadata))})`,
      );
      for (const p of s.probes) {
        const d = p.definition;
        const args = d ? lit(JSON.stringify(d.args)) : 'NULL';
        await db.run(
          `INSERT INTO probes VALUES (${s.fileId}, ${lit(p.event)}, ${lit(p.kind)}, ${p.func === null ? 'NULL' : lit(p.func)}, ${p.offset ?? 'NULL'}, ${lit(p.printed)}, ${p.source === null ? 'NULL' : lit(p.source)}, ${d ? lit(d.target) : 'NULL'}, ${args})`,
        );
      }
    }
    return out;
  }
}

const TS_LIMIT = 1n << 63n;
const INT_MAX = 0x7fffffff;

function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function ingestFile(
  file: string,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
): Promise<FileSummary> {
  // A trace-cmd .dat or perf.data (compressed or not) is read by its binary reader.
  const binary = opts.format ? null : await openBinary(file);
  if (binary) return ingestBinary(file, binary, fileId, firstId, loader, opts);
  const catalogue = new Catalogue();
  const fdir = opts.formatsDir ?? formatsBeside(file);
  if (fdir) catalogue.addFormatsDir(fdir);
  const sidecarFile = sidecarBeside(file);
  const sidecar = sidecarFile
    ? (JSON.parse(fs.readFileSync(sidecarFile, 'utf8')) as Partial<Sidecar>)
    : null;
  if (sidecar?.formats && !opts.formatsDir) catalogue.addFormats(sidecar.formats, sidecarFile!);
  const typer = new FieldTyper(catalogue);
  const probes = await probeSources(file, opts);
  const opened = openTrace(file);
  const f = opts.filter ?? {};
  const filtering =
    f.pid !== undefined || f.comm !== undefined || f.fromNs !== undefined || f.toNs !== undefined;
  const s: FileSummary = {
    fileId,
    path: file,
    format: opts.format ?? 'ftrace',
    compression: opened.compression,
    lines: 0,
    headerLines: 0,
    bytes: opened.bytes,
    events: 0,
    filtered: 0,
    unparsed: 0,
    lost: 0,
    metadata: {},
    probes: [],
  };
  let reader: LineReader | null = opts.format ? readerFor(opts.format) : null;
  const h = newHeader();
  // Per printed event name (or perf's system:name): its system:name, code and typed table.
  const kinds = new Map<string, EventKind>();
  let id = firstId;
  let lastTs: number | bigint | null = null;
  const lastTsCpu = new Map<number, number | bigint>();
  let backwards = 0;
  let cutLast: string | null = null;
  let backwardsCpu = 0;
  let firstBackwards: number | null = null;
  const unknownEvents = new Set<string>();
  let lastReport = 0;
  // The previous event's comm and flags, and their codes: runs of one task skip the lookups.
  let lastComm: string | null = null;
  let commCode = -1;
  let lastFlags: string | null | undefined;
  let flagsCode = -1;

  for await (const batch of readLines(file, opened.stream)) {
    if (!reader) {
      const fmt = detectFormat(batch.lines.slice(0, 400));
      if (!fmt) {
        throw new TraceInputError(
          file,
          batch.firstLineNo,
          `not a trace this tool reads: expected tracefs trace/trace_pipe text, trace-cmd report or perf script output (first line: ${JSON.stringify(batch.lines[0]?.slice(0, 80))}); use --format to force one`,
        );
      }
      reader = readerFor(fmt);
    }
    s.format = reader.format;
    const lines = batch.lines;
    for (let i = 0; i < lines.length; i++) {
      const lineNo = batch.firstLineNo + i;
      const line = lines[i];
      let r = reader.parse(line, h);
      // ts_ns is a BIGINT: a time past 2^63 ns (292 years) is damage, not a time.
      if (r.kind === 'event' && typeof h.tsNs === 'bigint' && h.tsNs >= TS_LIMIT)
        r = { kind: 'unparsed', reason: 'timestamp beyond 2^63 ns' };
      // cpu, pid and tgid columns are INTEGERs; a lost count is a BIGINT.
      else if (
        r.kind === 'event' &&
        (h.cpu > INT_MAX || h.tid > INT_MAX || (h.tgid ?? 0) > INT_MAX)
      )
        r = { kind: 'unparsed', reason: 'cpu, pid or tgid beyond 2^31' };
      else if (
        r.kind === 'lost' &&
        ((r.cpu ?? 0) > INT_MAX || (r.count ?? 0) > Number.MAX_SAFE_INTEGER)
      )
        r = { kind: 'unparsed', reason: 'lost-events marker with cpu or count out of range' };
      if (r.kind !== 'event') {
        if (r.kind === 'header') s.headerLines++;
        else if (r.kind === 'lost') {
          loader.rare('lost_events', [fileId, lineNo, r.cpu, r.count, lastTs]);
          s.lost += r.count ?? 0;
        } else {
          const reason =
            batch.truncatedLast && i === lines.length - 1
              ? `truncated last line (no newline at end of file); ${r.reason}`
              : r.reason;
          if (batch.truncatedLast && i === lines.length - 1)
            cutLast = `line ${lineNo}, cut short, was kept as unparsed`;
          loader.rare('unparsed', [fileId, lineNo, line, reason]);
          s.unparsed++;
        }
        continue;
      }
      const key = h.event ?? h.name;
      let kind = kinds.get(key);
      if (kind === undefined) {
        const event = h.event ?? resolveEvent(key, h.body, catalogue, probes.byName);
        if (event.startsWith('unknown:')) unknownEvents.add(key);
        kind = { event, code: -1, spec: undefined, appender: null };
        kinds.set(key, kind);
      }
      // tracefs prints trace_marker writes under the ip's symbol, not the event name.
      if (h.event === null && key === 'tracing_mark_write') h.body = `${key}: ${h.body}`;
      if (filtering) {
        if (
          (f.pid !== undefined && h.tid !== f.pid && h.tgid !== f.pid) ||
          (f.comm !== undefined && h.comm !== f.comm) ||
          (f.fromNs !== undefined && h.tsNs < f.fromNs) ||
          (f.toNs !== undefined && h.tsNs > f.toNs)
        ) {
          s.filtered++;
          continue;
        }
      }
      if (lastTs !== null && h.tsNs < lastTs) {
        backwards++;
        firstBackwards ??= lineNo;
        const prev = lastTsCpu.get(h.cpu);
        if (prev !== undefined && h.tsNs < prev) backwardsCpu++;
      }
      lastTs = h.tsNs;
      lastTsCpu.set(h.cpu, h.tsNs);
      if (kind.code < 0) kind.code = loader.eventNames.code(kind.event);
      if (h.comm !== lastComm) {
        lastComm = h.comm;
        commCode = loader.comms.code(h.comm);
      }
      if (h.flags !== lastFlags) {
        lastFlags = h.flags;
        flagsCode = h.flags === null ? -1 : loader.flags.code(h.flags);
      }
      loader.event(
        id,
        fileId,
        lineNo,
        h.tsNs,
        h.cpu,
        h.tid,
        h.tgid,
        commCode,
        flagsCode,
        kind.code,
      );
      let spec = kind.spec;
      if (spec === undefined) {
        spec = typer.spec(kind.event, h.body);
        // A kprobe without a format file: typed from its first line (and its definition's types).
        const head =
          spec?.columns[0]?.name === 'func' || !spec ? KPROBE_PRINTED.exec(h.body) : null;
        if (head) {
          const def = probes.byName.get(kind.event) ?? probes.byName.get(key) ?? null;
          spec ??= kprobeTextSpec(
            kind.event,
            h.body,
            new Map(def?.args.map((a) => [a.name, a.type])),
          );
          s.probes.push(probeRow(kind.event, head, def, probes.kallsyms));
        }
        kind.spec = spec;
        if (spec) {
          const differs = await loader.ensureTable(spec);
          if (differs) throw new TraceInputError(file, lineNo, differs);
          kind.appender = loader.typedAppender(spec);
        }
      }
      const event = kind.event;
      if (spec) {
        const vals = spec.extractRow(h.body);
        if (typeof vals === 'string') {
          loader.rare('field_errors', [id, event, `${file}:${lineNo}: ${vals}`]);
          if (batch.truncatedLast && i === lines.length - 1)
            cutLast = `line ${lineNo}, cut short, became a field error (${event}): ${vals}`;
          loader.otherEvent(id, event, h.body, JSON.stringify(genericFields(h.body)));
        } else loader.typedRow(kind.appender!, id, vals);
      } else {
        loader.otherEvent(id, event, h.body, JSON.stringify(genericFields(h.body)));
      }
      id++;
      s.events++;
    }
    s.lines = batch.firstLineNo + lines.length - 1;
    loader.endBatch();

    if (opts.onProgress) {
      const now = Date.now();
      if (now - lastReport > 200) {
        lastReport = now;
        opts.onProgress({
          file,
          bytesRead: opened.bytesRead(),
          bytes: opened.bytes,
          events: s.events,
        });
      }
    }
  }
  if (!reader) throw new TraceInputError(file, null, 'empty file, expected trace text');
  opts.onProgress?.({ file, bytesRead: opened.bytes, bytes: opened.bytes, events: s.events });
  const warnings: string[] = [];
  if (cutLast) warnings.push(`the last line has no newline (the trace was cut short?): ${cutLast}`);
  if (backwards) {
    warnings.push(
      `${backwards} timestamps go backwards (first at line ${firstBackwards})${backwardsCpu ? `, ${backwardsCpu} of them within one CPU's buffer` : ', all across CPUs (per-CPU buffers merged out of order)'}; events keep input order, sort by ts_ns`,
    );
  }
  if (typer.alternateFormats.size) {
    warnings.push(
      `typed by another kernel's format (the default catalogue's did not fit): ${[...typer.alternateFormats].map(([e, r]) => `${e} (${r})`).join(', ')}`,
    );
  }
  if (unknownEvents.size) {
    warnings.push(
      `events no catalogue knows, kept as unknown:NAME in other_events: ${[...unknownEvents].slice(0, 20).join(', ')}`,
    );
  }
  for (const w of warnings) opts.onWarning?.(`${file}: ${w}`);
  // Overruns the recorder counted but the text could not mark (it only sees what survived).
  if (sidecar?.stats && s.lost === 0) {
    for (const c of sidecar.stats) {
      const n = c.overrun + c.dropped_events;
      if (n > 0) {
        loader.rare('lost_events', [fileId, null, c.cpu, n, null]);
        s.lost += n;
      }
    }
  }
  s.metadata = {
    ...reader.metadata(),
    ...besideMetadata(file, {}),
    ...(sidecar?.paging_levels ? { paging_levels: sidecar.paging_levels } : {}),
    formats: catalogue.sources,
    warnings,
    basename: path.basename(file),
    ...(sidecar
      ? {
          recorded: {
            sidecar: sidecarFile,
            kernel_release: sidecar.kernel_release,
            clock: sidecar.clock,
            command: sidecar.command,
            stats: sidecar.stats,
          },
        }
      : {}),
  };
  return s;
}

interface EventKind {
  /** system:name */
  event: string;
  /** _event_names.event_id, -1 until the first event kept. */
  code: number;
  /** Its typed table, null for none, undefined until the first event kept. */
  spec: TableSpec | null | undefined;
  /** Its typed table's appender. */
  appender: ChunkAppender | null;
}

function resolveEvent(
  name: string,
  body: string,
  catalogue: Catalogue,
  probes: Map<string, ProbeDefinition>,
): string {
  // tracefs prints a trace_marker write under the ip's symbol, trace-cmd report as `print:`.
  if (name === 'tracing_mark_write' || name === 'print') return 'ftrace:print';
  const sys = catalogue.systemOf(name);
  if (sys) return `${sys}:${name}`;
  if (/^\(\S+( <- \S+)?\)/.test(body)) return probes.get(name)?.event ?? `kprobes:${name}`;
  return `unknown:${name}`;
}
