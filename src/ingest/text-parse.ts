// Text ingest's parsing half: trace text (decompressed here) to column batches of the tables it
// fills, with the strings of `_events` coded through the database's dictionaries. It runs on a
// worker thread (parse-worker.ts) while text.ts, on the main thread, only creates tables and
// appends what it is sent; the same messages cross, in the same order, when a small file is
// parsed inline.
import fs from 'node:fs';
import path from 'node:path';
import type { Sidecar } from '../record/record.js';
import type { ColumnBatch } from '../store/column-batch.js';
import { BatchParser, type ParseJob } from './parse-link.js';
import { besideMetadata } from './beside.js';
import type { IngestFilter } from './ingest.js';
import { newSummary, type FileSummary } from './summary.js';
import { Catalogue, formatsBeside, sidecarBeside } from '../parse/catalogue.js';
import { detectFormat, readerFor } from '../parse/detect.js';
import { TraceInputError } from '../parse/errors.js';
import { CLOCK_COUNTS, LATENCY_TIMES } from '../parse/ftrace-text.js';
import { FieldTyper, genericFields, kprobeTextSpec, type TableSpec } from '../parse/fields.js';
import { traceChunks } from '../parse/input.js';
import type { FieldValue } from '../parse/format.js';
import { Interner } from '../parse/interner.js';
import { RowMemo } from '../parse/row-memo.js';
import { lineText, readLines } from '../parse/lines.js';
import { KPROBE_PRINTED, probeRow, probeSources, type ProbeDefinition } from '../parse/probes.js';
import { newHeader, newRawHeader, type LineReader, type TraceFormat } from '../parse/record.js';

/** What the text parser is given, besides what every parser is. */
export interface TextJob extends ParseJob {
  format?: TraceFormat;
  formatsDir?: string;
  probes?: string[];
  kallsyms?: string;
  filter: IngestFilter;
}

/**
 * A table given rows from a line's text (not its bytes) has them sent, full batch or not, once
 * this much text has gone by: their strings may be slices that keep their line's text alive. Rows
 * read from the bytes hold interned strings only, and wait for a full batch (sending every table's
 * part-filled batch made bursts of messages the parser then waited on). The lines so kept alive
 * are at most this much text; at 4 MiB the tracefs bench sent 506 batches, 284 at 16 MiB
 * (syscall lines, 1% of its lines, go by their text), each a postMessage of ~0.4 ms.
 */
const FLUSH_BYTES = 16 << 20;
const TS_LIMIT = 1n << 63n;
const INT_MAX = 0x7fffffff;

interface EventKind {
  /** system:name */
  event: string;
  /** _event_names.event_id, -1 until the first event kept. */
  code: number;
  /** Its typed table, null for none, undefined until the first event kept. */
  spec: TableSpec | null | undefined;
  rows: ColumnBatch | null;
  /** Its spec's extractBytes, null for none. */
  fromBytes: ((b: Buffer, s: number, e: number) => FieldValue[] | null) | null;
  /** fromBytes's rows remembered by body. */
  memo: RowMemo;
}

/** Parses one text trace, sending what it finds through `post`; ack() takes batches back. */
export class TextParser extends BatchParser<TextJob> {
  protected async parse(): Promise<FileSummary> {
    const { file, fileId, firstId } = this.job;
    const opts = this.job;
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
    const opened = traceChunks(file);
    const f = opts.filter;
    const filtering =
      f.pid !== undefined || f.comm !== undefined || f.fromNs !== undefined || f.toNs !== undefined;
    const s = newSummary(fileId, file, opts.format ?? 'ftrace', opened.compression, opened.bytes);
    const { comms, flags: flagCodes, eventNames } = this.codes();
    const events = this.table('_events');
    const other = this.table('other_events');
    let reader: LineReader | null = opts.format ? readerFor(opts.format) : null;
    const h = newHeader();
    // Per printed event name (or perf's system:name): its system:name, code and typed table.
    const kinds = new Map<string, EventKind>();
    let id = firstId;
    let lastTs: number | bigint | null = null;
    // Per CPU, by its number: an array, not a Map (one Map.set per event cost ~3 % of parsing).
    const lastTsCpu: (number | bigint)[] = [];
    let backwards = 0;
    let cutLast: string | null = null;
    let backwardsCpu = 0;
    let firstBackwards: number | null = null;
    const unknownEvents = new Set<string>();
    const otherTyped = new Set<string>();
    let lastReport = 0;
    // The previous event's comm and flags, and their codes: runs of one task skip the lookups.
    let lastComm: string | null = null;
    let commCode = -1;
    let lastFlags: string | null | undefined;
    let flagsCode = -1;
    // The byte path's header, and its strings made once per distinct value.
    const raw = newRawHeader();
    const keys = new Interner();
    // kinds by the interned key strings themselves: found by pointer, not compared by content.
    const rawKinds = new Map<string, EventKind>();
    const commStrings = new Interner();
    const flagStrings = new Interner();
    /** The line of the last sample a call chain frame may follow (-1: filtered out), its depth. */
    let sampleLine = 0;
    let frameDepth = 0;
    /** Tables given a row from a line's text since the last flush (FLUSH_BYTES). */
    const fromText = new Set<ColumnBatch>();

    /** A line the reader parses from its text: an event, or a header, lost or unparsed row. */
    const textLine = (line: string, lineNo: number, cut: boolean): void => {
      let r = reader!.parse(line, h);
      // ts_ns is a BIGINT: a time past 2^63 ns (292 years) is damage, not a time.
      if (r.kind === 'event' && typeof h.tsNs === 'bigint' && h.tsNs >= TS_LIMIT)
        r = { kind: 'unparsed', reason: 'timestamp beyond 2^63 ns' };
      // cpu, pid and tgid columns are INTEGERs; a lost count is a BIGINT.
      else if (
        r.kind === 'event' &&
        ((h.cpu ?? 0) > INT_MAX || h.tid > INT_MAX || (h.tgid ?? 0) > INT_MAX)
      )
        r = { kind: 'unparsed', reason: 'cpu, pid or tgid beyond 2^31' };
      else if (
        r.kind === 'lost' &&
        ((r.cpu ?? 0) > INT_MAX || (r.count ?? 0) > Number.MAX_SAFE_INTEGER)
      )
        r = { kind: 'unparsed', reason: 'lost-events marker with cpu or count out of range' };
      if (r.kind === 'frame' && sampleLine === 0)
        r = { kind: 'unparsed', reason: 'a call chain or stack frame before any event' };
      if (r.kind !== 'event') {
        if (r.kind === 'header') s.headerLines++;
        else if (r.kind === 'frame') {
          // A filtered sample's frames go with it.
          if (sampleLine > 0)
            this.rare('callchain_frames', [
              fileId,
              lineNo,
              sampleLine,
              frameDepth++,
              r.ip === null ? null : BigInt(`0x${r.ip}`).toString(),
              r.symbol,
              r.dso,
            ]);
        } else if (r.kind === 'lost') {
          this.rare('lost_events', [fileId, lineNo, r.cpu, r.count, lastTs]);
          s.lost += r.count ?? 0;
        } else {
          const reason = cut
            ? `truncated last line (no newline at end of file); ${r.reason}`
            : r.reason;
          if (cut) cutLast = `line ${lineNo}, cut short, was kept as unparsed`;
          this.rare('unparsed', [fileId, lineNo, line, reason]);
          s.unparsed++;
        }
        return;
      }
      const key = h.event ?? h.name;
      let kind = kinds.get(key);
      if (kind === undefined) {
        const event = h.event ?? resolveEvent(key, h.body, catalogue, probes.byName);
        if (event.startsWith('unknown:')) unknownEvents.add(key);
        kind = {
          event,
          code: -1,
          spec: undefined,
          rows: null,
          fromBytes: null,
          memo: new RowMemo(),
        };
        kinds.set(key, kind);
      }
      // tracefs prints trace_marker writes under the ip's symbol, not the event name.
      if (h.event === null && key === 'tracing_mark_write') h.body = `${key}: ${h.body}`;
      if (!keep(kind, lineNo)) return;
      if (kind.spec === undefined) newKind(kind, key, lineNo);
      fields(kind, h.body, lineNo, cut);
    };

    /** Filters the event in `h`, and writes its `_events` row when it is kept. */
    const keep = (kind: EventKind, lineNo: number): boolean => {
      if (filtering) {
        if (
          (f.pid !== undefined && h.tid !== f.pid && h.tgid !== f.pid) ||
          (f.comm !== undefined && h.comm !== f.comm) ||
          (f.fromNs !== undefined && h.tsNs < f.fromNs) ||
          (f.toNs !== undefined && h.tsNs > f.toNs)
        ) {
          s.filtered++;
          sampleLine = -1;
          return false;
        }
      }
      if (lastTs !== null && h.tsNs < lastTs) {
        backwards++;
        firstBackwards ??= lineNo;
        const prev = h.cpu === null ? undefined : lastTsCpu[h.cpu];
        if (prev !== undefined && h.tsNs < prev) backwardsCpu++;
      }
      lastTs = h.tsNs;
      if (h.cpu !== null) lastTsCpu[h.cpu] = h.tsNs;
      sampleLine = lineNo;
      frameDepth = 0;
      if (kind.code < 0) kind.code = eventNames.code(kind.event);
      if (h.comm !== lastComm) {
        lastComm = h.comm;
        commCode = comms.code(h.comm);
      }
      if (h.flags !== lastFlags) {
        lastFlags = h.flags;
        flagsCode = h.flags === null ? -1 : flagCodes.code(h.flags);
      }
      events.setI64(0, id);
      events.setI32(1, fileId);
      events.setI64(2, lineNo);
      if (typeof h.tsNs === 'number') events.setI64(3, h.tsNs);
      else events.set(3, h.tsNs);
      if (h.cpu === null) events.set(4, null);
      else events.setI32(4, h.cpu);
      events.setI32(5, h.tid);
      if (h.tgid === null) events.set(6, null);
      else events.setI32(6, h.tgid);
      events.setI32(7, commCode);
      if (flagsCode < 0) events.set(8, null);
      else events.setI32(8, flagsCode);
      events.setI32(9, kind.code);
      events.endRow();
      return true;
    };

    /** An event's typed table, on its first kept line (`h`). */
    const newKind = (kind: EventKind, key: string, lineNo: number): void => {
      let spec = typer.spec(kind.event, h.body);
      // A kprobe without a format file: typed from its first line (and its definition's types).
      const head = spec?.columns[0]?.name === 'func' || !spec ? KPROBE_PRINTED.exec(h.body) : null;
      if (head) {
        const def = probes.byName.get(kind.event) ?? probes.byName.get(key) ?? null;
        spec ??= kprobeTextSpec(
          kind.event,
          h.body,
          new Map(def?.args.map((a) => [a.name, a.type])),
        );
        s.probes.push(probeRow(kind.event, head, def, probes.kallsyms));
      }
      // A table an earlier file made with other columns (another kernel's format, a .dat's
      // format file beside a printed kprobe line) cannot take these rows by position: they
      // are kept whole in other_events. Another kernel's types for the same columns are taken
      // as the table has them.
      const have = spec ? this.job.names[spec.table] : undefined;
      if (spec && have && have.join() !== ['id', ...spec.columns.map((c) => c.name)].join()) {
        otherTyped.add(`${spec.event} (its table ${spec.table} has ${have.join(', ')})`);
        spec = null;
      }
      kind.spec = spec;
      if (spec) {
        if (!this.hasTable(spec.table) && !have)
          this.post({
            t: 'table',
            table: spec.table,
            event: spec.event,
            columns: spec.columns,
            line: lineNo,
          });
        kind.rows = this.table(spec.table, ['BIGINT', ...spec.columns.map((c) => c.type)]);
        kind.fromBytes = spec.extractBytes ?? null;
      }
    };

    /** A kept event's fields: its typed row, or its other_events row. */
    const fields = (kind: EventKind, body: string, lineNo: number, cut: boolean): void => {
      const spec = kind.spec;
      const event = kind.event;
      if (spec) {
        const vals = spec.extractRow(body);
        if (typeof vals === 'string') {
          this.rare('field_errors', [id, event, `${file}:${lineNo}: ${vals}`]);
          if (cut) cutLast = `line ${lineNo}, cut short, became a field error (${event}): ${vals}`;
          otherRow(other, id, event, body);
          fromText.add(other);
        } else {
          typedRow(kind.rows!, id, vals);
          fromText.add(kind.rows!);
        }
      } else {
        otherRow(other, id, event, body);
        fromText.add(other);
      }
      id++;
      s.events++;
    };

    /**
     * A line read from its bytes where the reader's scan takes it and its event has been seen (its
     * first line, trace_marker writes and anything unusual go by textLine): false when it does not.
     */
    const rawLine = (b: Buffer, from: number, end: number, lineNo: number): boolean => {
      if (!reader!.scan(b, from, end, raw)) return false;
      const key = keys.get(b, raw.keyStart, raw.keyEnd);
      let kind = rawKinds.get(key);
      if (kind === undefined) {
        kind = kinds.get(key);
        if (kind === undefined || kind.spec === undefined || key === 'tracing_mark_write')
          return false;
        rawKinds.set(key, kind);
      }
      h.comm = commStrings.get(b, raw.commStart, raw.commEnd);
      h.tid = raw.tid;
      h.tgid = raw.tgid < 0 ? null : raw.tgid;
      h.cpu = raw.cpu < 0 ? null : raw.cpu;
      h.flags = raw.flagsStart < 0 ? null : flagStrings.get(b, raw.flagsStart, raw.flagsEnd);
      h.tsNs = raw.tsNs;
      if (!keep(kind, lineNo)) return true;
      const vals = kind.fromBytes && kind.memo.row(b, raw.bodyStart, end, kind.fromBytes);
      if (vals) {
        typedRow(kind.rows!, id, vals);
        id++;
        s.events++;
      } else fields(kind, b.toString('latin1', raw.bodyStart, end), lineNo, false);
      return true;
    };

    let lineNo = 1;
    let bytesSinceFlush = 0;
    for await (const batch of readLines(file, opened.chunks)) {
      const b = batch.bytes;
      if (!reader) {
        const sample = firstLines(b, 400);
        const fmt = detectFormat(sample);
        if (!fmt) {
          throw new TraceInputError(
            file,
            lineNo,
            `not a trace this tool reads: expected tracefs trace/trace_pipe text, trace-cmd report or perf script output (first line: ${JSON.stringify(sample[0]?.slice(0, 80))}); use --format to force one`,
          );
        }
        reader = readerFor(fmt);
      }
      s.format = reader.format;
      for (let from = 0; from < b.length; lineNo++) {
        let end = b.indexOf(10, from);
        if (end < 0) end = b.length;
        if (batch.truncatedLast) textLine(lineText(b, from, end), lineNo, true);
        else if (!batch.plain || !rawLine(b, from, end, lineNo))
          textLine(lineText(b, from, end), lineNo, false);
        from = end + 1;
      }
      s.lines = lineNo - 1;
      bytesSinceFlush += b.length;
      if (bytesSinceFlush >= FLUSH_BYTES) {
        bytesSinceFlush = 0;
        for (const t of fromText) t.flush();
        fromText.clear();
      }
      await this.drain();

      if (opts.progress) {
        const now = Date.now();
        if (now - lastReport > 200) {
          lastReport = now;
          this.post({
            t: 'progress',
            bytesRead: opened.bytesRead(),
            bytes: opened.bytes,
            events: s.events,
          });
        }
      }
    }
    if (!reader) throw new TraceInputError(file, null, 'empty file, expected trace text');
    if (opts.progress)
      this.post({ t: 'progress', bytesRead: opened.bytes, bytes: opened.bytes, events: s.events });
    const warnings: string[] = [];
    if (cutLast)
      warnings.push(`the last line has no newline (the trace was cut short?): ${cutLast}`);
    if (backwards) {
      warnings.push(
        `${backwards} timestamps go backwards (first at line ${firstBackwards})${backwardsCpu ? `, ${backwardsCpu} of them within one CPU's buffer` : ', all across CPUs (per-CPU buffers merged out of order)'}; events keep input order, sort by ts_ns`,
      );
    }
    const times = reader.metadata().timestamps;
    if (times === CLOCK_COUNTS)
      warnings.push(
        `timestamps are the trace clock's counts, not ns (trace_clock x86-tsc, counter or uptime): ts_ns holds them as printed, so they order events but durations in ns do not hold`,
      );
    else if (times === LATENCY_TIMES)
      warnings.push(
        `latency-format text (options/latency-format): times are µs since the trace buffer's start, in ts_ns as such (times of other traces do not compare), and comms are cut to 8 characters`,
      );
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
    if (otherTyped.size)
      warnings.push(
        `events whose fields differ from the typed table an earlier file made, kept in other_events: ${[...otherTyped].join('; ')}`,
      );
    for (const w of warnings) this.post({ t: 'warning', message: `${file}: ${w}` });
    // Overruns the recorder counted but the text could not mark (it only sees what survived).
    if (sidecar?.stats && s.lost === 0) {
      for (const c of sidecar.stats) {
        const n = c.overrun + c.dropped_events;
        if (n > 0) {
          this.rare('lost_events', [fileId, null, c.cpu, n, null]);
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
}

function typedRow(a: ColumnBatch, id: number, vals: FieldValue[]): void {
  a.setI64(0, id);
  for (let k = 0; k < vals.length; k++) a.set(k + 1, vals[k]);
  a.endRow();
}

/** The first n lines of a batch, as text (what format detection samples). */
function firstLines(b: Buffer, n: number): string[] {
  // A batch ends with a newline, but the last of a truncated input (no newline at all).
  let end = b.indexOf(10);
  if (end < 0) return [lineText(b, 0, b.length)];
  for (let i = 1; i < n; i++) {
    const next = b.indexOf(10, end + 1);
    if (next < 0) break;
    end = next;
  }
  return lineText(b, 0, end).split('\n');
}

function otherRow(a: ColumnBatch, id: number, event: string, body: string): void {
  a.setI64(0, id);
  a.set(1, event);
  a.set(2, body);
  a.set(3, JSON.stringify(genericFields(body)));
  a.endRow();
}

function resolveEvent(
  name: string,
  body: string,
  catalogue: Catalogue,
  probes: Map<string, ProbeDefinition>,
): string {
  // tracefs prints a trace_marker write under the ip's symbol, trace-cmd report as `print:`.
  if (name === 'tracing_mark_write' || name === 'print') return 'ftrace:print';
  // tracefs prints a stack it records after an event under these names (trace_stack_print),
  // trace-cmd report under the event's own name (the first user frame on its line).
  if (name === '<stack trace>' || name === 'kernel_stack') return 'ftrace:kernel_stack';
  if (name === '<user stack trace>' || name === 'user_stack') return 'ftrace:user_stack';
  const sys = catalogue.systemOf(name);
  if (sys) return `${sys}:${name}`;
  if (/^\(\S+( <- \S+)?\)/.test(body)) return probes.get(name)?.event ?? `kprobes:${name}`;
  return `unknown:${name}`;
}
