// The fuzzer's engine: small windows of the real traces under traces/host, mutated (flipped bytes,
// cut lines, duplicated and reordered lines, invalid UTF-8, huge lines, extreme numbers), joined a
// batch at a time into one trace file of one format, then ingested and replayed in process into an
// in-memory DuckDB. A failure must be a typed error (MmreplayError) that names a place in the input;
// anything else is a crash.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../src/store/db.js';
import { MmreplayError } from '../src/errors.js';
import { ingestDb } from '../src/ingest/ingest.js';
import { replayDb } from '../src/replay/replay.js';
import { binaryKind } from '../src/ingest/binary.js';
import { BinaryParser, type BinaryJob } from '../src/ingest/binary-parse.js';
import type { ParseJob } from '../src/ingest/parse-link.js';
import { received } from '../src/ingest/parse-store.js';
import { Loader } from '../src/store/loader.js';
import {
  DatWriter,
  recordEncoder,
  type RecordValue,
} from '../src/parse/binary/tracecmd-dat-writer.js';
import { binaryFormat } from '../src/parse/binary/tracing-data.js';

const HOST = path.resolve(import.meta.dirname, '../traces/host');

type Format = 'ftrace' | 'trace-cmd' | 'perf';

/** One real trace: its lines as bytes. */
export interface Source {
  file: string;
  format: Format;
  lines: Buffer[];
}

/** The uncompressed text traces under traces/host, by format. */
export function loadCorpus(): Source[] {
  const out: Source[] = [];
  const add = (file: string, format: Format) => {
    if (!fs.existsSync(file)) return;
    const data = fs.readFileSync(file);
    const lines: Buffer[] = [];
    for (let at = 0; at < data.length;) {
      let nl = data.indexOf(10, at);
      if (nl < 0) nl = data.length;
      lines.push(data.subarray(at, nl));
      at = nl + 1;
    }
    if (lines.length) out.push({ file: path.relative(HOST, file), format, lines });
  };
  for (const set of ['', 'recorded']) {
    const root = path.join(HOST, set);
    for (const d of fs.readdirSync(root)) {
      const dir = path.join(root, d);
      if (!fs.statSync(dir).isDirectory() || d === 'recorded') continue;
      add(path.join(dir, 'trace.txt'), 'ftrace');
      add(path.join(dir, 'trace_pipe.txt'), 'ftrace');
      for (const r of ['report.txt', 'report-l.txt', 'report-t.txt'])
        add(path.join(dir, r), 'trace-cmd');
      for (const p of ['perf-script.txt', 'perf-script-F.txt']) add(path.join(dir, p), 'perf');
    }
  }
  return out;
}

/** The seed of batch `batch` of a run seeded `seed`: batches are independent, so any one can be rerun. */
export function batchSeed(seed: number, batch: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(batch + 1, 0x85ebca6b)) >>> 0;
}

/** mulberry32: a small seeded generator, so a run can be repeated from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EXTREMES = [
  '0',
  '-1',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999999',
  '0xffffffffffffffff',
  '4294967296',
  '-9223372036854775808',
  'nan',
  '',
];

export const OPERATORS = [
  'flip',
  'cut',
  'duplicate',
  'reorder',
  'delete',
  'utf8',
  'number',
  'splice',
  'huge',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** Applies one mutation to lines (in place); returns its name. */
export function mutate(lines: Buffer[], r: () => number, huge = DEFAULTS.huge): Operator {
  const pick = (n: number) => Math.floor(r() * n);
  const op = r() < huge ? 'huge' : OPERATORS[pick(OPERATORS.length - 1)];
  if (!lines.length) return op;
  const i = pick(lines.length);
  const line = lines[i];
  switch (op) {
    case 'flip': {
      const b = Buffer.from(line);
      for (let k = 1 + pick(3); k > 0 && b.length; k--) b[pick(b.length)] ^= 1 << pick(8);
      lines[i] = b;
      break;
    }
    case 'cut':
      lines[i] = line.subarray(0, pick(line.length + 1));
      break;
    case 'duplicate':
      lines.splice(i, 0, ...Array<Buffer>(1 + pick(3)).fill(line));
      break;
    case 'reorder': {
      const j = Math.min(lines.length - 1, Math.max(0, i + pick(41) - 20));
      [lines[i], lines[j]] = [lines[j], lines[i]];
      break;
    }
    case 'delete':
      lines.splice(i, 1 + pick(5));
      break;
    case 'utf8': {
      const bad = [
        Buffer.from([0xff]),
        Buffer.from([0xc3]),
        Buffer.from([0xe2, 0x82]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
      ][pick(5)];
      const at = pick(line.length + 1);
      lines[i] = Buffer.concat([line.subarray(0, at), bad, line.subarray(at)]);
      break;
    }
    case 'huge': {
      // A line of 64 KiB to 1 MiB: the line repeated, or one field's value made enormous.
      const size = (64 << 10) << pick(5);
      const at = pick(line.length + 1);
      const fill = r() < 0.5 && line.length ? Buffer.alloc(size, line) : Buffer.alloc(size, 'f');
      lines[i] = Buffer.concat([line.subarray(0, at), fill, line.subarray(at)]);
      break;
    }
    case 'number': {
      // A number in the line replaced by an extreme one.
      const text = line.toString('latin1');
      const nums = [...text.matchAll(/(?:0x)?[0-9a-f]+/gi)];
      if (!nums.length) break;
      const m = nums[pick(nums.length)];
      const v = EXTREMES[pick(EXTREMES.length)];
      lines[i] = Buffer.from(
        text.slice(0, m.index) + v + text.slice(m.index + m[0].length),
        'latin1',
      );
      break;
    }
    case 'splice': {
      // Two lines run together, as when a writer's newline is lost.
      const j = pick(lines.length);
      lines[i] = Buffer.concat([
        line.subarray(0, pick(line.length + 1)),
        lines[j].subarray(pick(lines[j].length + 1)),
      ]);
      break;
    }
  }
  return op;
}

/** Window sizes: MIN to MAX lines of a source trace. */
export interface FuzzOptions {
  minLines: number;
  maxLines: number;
  /** Share of mutations that make a huge line (64 KiB to 1 MiB): the costliest to run, so rare. */
  huge: number;
}

export const DEFAULTS: FuzzOptions = { minLines: 20, maxLines: 300, huge: 1 / 500 };

/** One mutated window of a source trace. */
export function mutatedWindow(
  src: Source,
  r: () => number,
  o: FuzzOptions = DEFAULTS,
): { lines: Buffer[]; ops: Operator[] } {
  const len = Math.min(
    src.lines.length,
    o.minLines + Math.floor(r() * (o.maxLines - o.minLines + 1)),
  );
  // Windows start at the top half the time, so headers and first events are mutated too.
  const start = r() < 0.5 ? 0 : Math.floor(r() * (src.lines.length - len + 1));
  const lines = src.lines.slice(start, start + len);
  const ops: Operator[] = [];
  for (let k = 1 + Math.floor(r() * 3); k > 0; k--) ops.push(mutate(lines, r, o.huge));
  return { lines, ops };
}

export interface BatchResult {
  traces: number;
  /** The error, when the run failed: typed (with a location) or a crash. */
  error: Error | null;
  typed: boolean;
  /** The batch's trace file, kept when it crashed. */
  file: string;
  seconds: number;
}

/** Whether a typed error names a place: FILE:LINE, FILE: byte N, or the database. */
export function located(e: MmreplayError): boolean {
  return /^\S+(:\d+| byte \d+)?: /.test(e.message);
}

/**
 * Ingests and replays one batch: `n` mutated windows of sources of one format joined into one
 * file (the first window of the batch left whole about half the time, so format detection sees
 * real text and the rest of the batch is parsed), in a fresh in-memory database.
 */
export async function runBatch(
  corpus: Source[],
  n: number,
  r: () => number,
  dir: string,
  o: FuzzOptions = DEFAULTS,
): Promise<BatchResult> {
  const t0 = performance.now();
  const formats: Format[] = ['ftrace', 'trace-cmd', 'perf'];
  const format = formats[Math.floor(r() * formats.length)];
  const sources = corpus.filter((s) => s.format === format);
  const parts: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const src = sources[Math.floor(r() * sources.length)];
    const lines = k === 0 && r() < 0.5 ? src.lines.slice(0, 100) : mutatedWindow(src, r, o).lines;
    parts.push(Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
  }
  let data = Buffer.concat(parts);
  // A trace cut anywhere in its last line (a copy or a recording stopped short).
  if (r() < 0.3) {
    const lastNl = data.lastIndexOf(10, data.length - 2);
    data = data.subarray(0, lastNl + 1 + Math.floor(r() * (data.length - lastNl - 1)));
  }
  const file = path.join(dir, `batch-${format}-${process.pid}.txt`);
  fs.writeFileSync(file, data);
  const tOpen = performance.now();
  let tIngest = tOpen;
  const db = await Db.open(':memory:');
  // One DuckDB thread: the fuzzer runs a worker per core, and the batches are small (10 % less CPU).
  await db.run('SET threads = 1');
  let error: Error | null = null;
  try {
    await ingestDb(db, [file], {});
    tIngest = performance.now();
    await replayDb(db, {});
  } catch (e) {
    error = e as Error;
  } finally {
    db.close();
  }
  const typed = error instanceof MmreplayError && located(error);
  if (process.env.FUZZ_VERBOSE)
    process.stdout.write(
      `  ${data.length} bytes: build ${(tOpen - t0).toFixed(0)} ms, ingest ${(tIngest - tOpen).toFixed(0)} ms, replay ${(performance.now() - tIngest).toFixed(0)} ms\n`,
    );
  return { traces: n, error, typed, file, seconds: (performance.now() - t0) / 1000 };
}

/** A private directory for batch files, in memory (/dev/shm) where there is one. */
export function tempDir(): string {
  const shm = '/dev/shm';
  const base = fs.existsSync(shm) && fs.statSync(shm).isDirectory() ? shm : os.tmpdir();
  return fs.mkdtempSync(path.join(base, 'mmreplay-fuzz-'));
}

/** The binary traces the binary fuzz mutates: small perf.data and .dat files of traces/host. */
export function loadBinaryCorpus(): { name: string; data: Buffer }[] {
  const xz = (f: string) => execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 28 });
  return [
    ['anon/perf.data', (f: string) => fs.readFileSync(f)],
    ['perf-lost/perf.data', (f: string) => fs.readFileSync(f)],
    // perf record -a: records of two sample layouts, found by their event id.
    ['perf-system-wide/perf.data', (f: string) => fs.readFileSync(f)],
    // perf record -z: records in a zstd stream across PERF_RECORD_COMPRESSED records.
    ['perf-compressed/perf.data', (f: string) => fs.readFileSync(f)],
    ['dat/lost.dat', (f: string) => fs.readFileSync(f)],
    ['dontneed/trace.dat.xz', xz],
  ].map(([name, read]) => ({
    name: name as string,
    data: (read as (f: string) => Buffer)(path.join(HOST, name as string)),
  }));
}

/**
 * A mutated copy of a binary trace: cut short anywhere, or up to eight bytes, 32-bit or 64-bit
 * fields overwritten with random values (mostly in the first 8 KiB: headers, sections, formats).
 */
export function mutateBinary(data: Buffer, r: () => number): Buffer {
  const pick = (n: number) => Math.floor(r() * n);
  const how = pick(4);
  if (how === 0) return data.subarray(0, pick(data.length));
  const b = Buffer.from(data);
  for (let k = 1 + pick(8); k > 0; k--) {
    const at = r() < 0.7 ? pick(Math.min(b.length, 8192)) : pick(b.length);
    if (how === 1) b[at] = pick(256);
    else if (how === 2 && at + 8 <= b.length)
      b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(pick(2 ** 32)) << BigInt(pick(33))), at);
    else if (at + 4 <= b.length) b.writeUInt32LE(pick(2 ** 32), at);
  }
  return b;
}

/** Ingests one (mutated) binary trace into a fresh in-memory database: its error, if any. */
export async function ingestBinaryOnce(file: string): Promise<Error | null> {
  const db = await Db.open(':memory:');
  await db.run('SET threads = 1');
  try {
    await ingestDb(db, [file], {});
    return null;
  } catch (e) {
    return e as Error;
  } finally {
    db.close();
  }
}

/**
 * The parse of ingest without its database (binary-parse.ts, as the loader runs it, every batch
 * taken as soon as it is sent): the columns and dictionaries of an empty database, made once.
 */
export async function parseJob(): Promise<ParseJob> {
  const db = await Db.open(':memory:');
  try {
    const loader = new Loader(db);
    await loader.init();
    const empty = { entries: [], next: 0 };
    return {
      file: '',
      fileId: 0,
      firstId: 0,
      dicts: { comms: empty, flags: empty, eventNames: empty },
      ...(await loader.columns()),
      progress: false,
    };
  } finally {
    db.close();
  }
}

/** Parses one (mutated) binary trace without a database: its error, if any (null too when the
 *  magic is gone: that file is text to ingest). */
export async function parseBinaryOnce(file: string, base: ParseJob): Promise<Error | null> {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(16);
  const n = fs.readSync(fd, head, 0, 16, 0);
  fs.closeSync(fd);
  const kind = binaryKind(head.subarray(0, n));
  if (!kind) return null;
  const job: BinaryJob = {
    ...base,
    file,
    kind,
    path: file,
    compression: 'none',
    bytes: 0,
    filter: {},
  };
  let error: Error | null = null;
  const parser: BinaryParser = new BinaryParser(job, (m) => {
    if (m.t === 'rows') parser.ack({ table: m.table, values: m.rows.values });
    else if (m.t === 'error') error = received(m.error);
  });
  await parser.run();
  return error;
}

/**
 * A small .dat (v6, about 20 KiB): records of six event kinds of the synthetic kernel
 * (src/synth/dat-kernel.json: a marker, tracepoints with flags and a %pS pointer, kprobes with
 * an array and a return value) on two CPUs, with its kallsyms. It parses in about a millisecond,
 * where a recorded .dat's thousands of format files take a good part of a second.
 */
export function tinyDat(file: string): void {
  const kernel = JSON.parse(
    fs.readFileSync(path.resolve(import.meta.dirname, '../src/synth/dat-kernel.json'), 'utf8'),
  ) as {
    formats: Record<string, string>;
    headerPage: string;
    headerEvent: string;
    kallsyms: string;
  };
  const events = [
    'ftrace:print',
    'kmem:mm_page_alloc',
    'exceptions:page_fault_user',
    'syscalls:sys_enter_madvise',
    'kprobes:mder_make_device_exclusive_range_ret',
    'kprobes:mder_folio_unlock',
  ];
  const formats = events.map((e) => binaryFormat(kernel.formats[e], e.slice(0, e.indexOf(':'))));
  const w = new DatWriter(file, 2);
  const rec = Buffer.alloc(4096);
  for (let i = 0; i < 60; i++) {
    const bf = formats[i % formats.length];
    const values = bf.format.fields.map((f): RecordValue => {
      if (/\bchar\b.*\[/.test(f.ctype)) return `m${i}`;
      // `u64 pages[]` of 512 bytes: 64 elements.
      if (/\[\d*\]$/.test(f.ctype)) return Array.from({ length: f.size / 8 }, (_, k) => k * 0x1000);
      return f.size === 8 ? 0xffffffff81102261n + BigInt(i) : i + 1;
    });
    const len = recordEncoder(bf, {}, () => 0n)(rec, 100 + (i % 3), i % 4, 0, values);
    w.event(i % 2, 1e9 + i * 1000, rec, len);
  }
  w.close({
    headerPage: kernel.headerPage,
    headerEvent: kernel.headerEvent,
    formats,
    kallsyms: kernel.kallsyms,
    printk: '',
    comms: new Map([[100, 'tiny']]),
    clock: 'mono',
    uname: null,
  });
}
