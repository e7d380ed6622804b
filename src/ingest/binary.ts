// `mmreplay ingest` of binary traces: a trace-cmd `.dat` (v6, v7) or a `perf.data`, chosen by
// magic bytes (ingest.ts), decompressed when the whole file is, and parsed by binary-parse.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FileSummary, IngestOptions } from './ingest.js';
import { BinaryParser, type BinaryJob, type BinaryKind } from './binary-parse.js';
import { jobBase, parsesInline, storeParsed, type ParseWorker } from './parse-store.js';
import type { Loader } from '../store/loader.js';
import { TraceInputError } from '../parse/errors.js';
import { detectCompression, openTrace, type Compression } from '../parse/input.js';
import { DAT_MAGIC } from '../parse/binary/tracecmd-dat.js';
import { PERF_MAGIC } from '../parse/binary/perf-data.js';

/** The binary trace whose first bytes are `head`, by its magic; null for another file. */
export function binaryKind(head: Buffer): BinaryKind | null {
  if (head.length >= DAT_MAGIC.length && head.subarray(0, DAT_MAGIC.length).equals(DAT_MAGIC))
    return 'trace-cmd-dat';
  if (head.length >= PERF_MAGIC.length && head.subarray(0, PERF_MAGIC.length).equals(PERF_MAGIC))
    return 'perf-data';
  return null;
}

/** The first 64 bytes of `file` (fewer for a shorter one), null where it cannot be read. */
function fileHead(file: string): Buffer | null {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(64);
      return head.subarray(0, fs.readSync(fd, head, 0, 64, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

export interface OpenedBinary {
  kind: BinaryKind;
  /** The file to read: the input, or its decompressed copy in a temporary directory. */
  path: string;
  compression: Compression;
  /** A v7 .dat whose sections the file compresses (zstd, zlib): its data is several times its size. */
  packed: boolean;
  /** Removes the decompressed copy, if any. */
  cleanup(): void;
}

/**
 * A binary trace at `file`, null when it is not one. A compressed one (`trace.dat.xz`) is
 * decompressed to a temporary file first: the readers seek.
 */
export async function openBinary(file: string): Promise<OpenedBinary | null> {
  const head = fileHead(file);
  if (!head) return null; // the text path reports it
  const kind = binaryKind(head);
  if (kind)
    return { kind, path: file, compression: 'none', packed: packedDat(head), cleanup: () => {} };
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
  const inner = first ? binaryKind(first) : null;
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
  return { kind: inner, path: out, compression, packed: false, cleanup };
}

/**
 * Whether `head` begins a v7 .dat that names a compression: magic, "7\0", endianness, long size,
 * page size (4 bytes), then the compression's name ("none" when there is none).
 */
function packedDat(head: Buffer): boolean {
  const at = DAT_MAGIC.length;
  if (head.toString('latin1', at, at + 2) !== '7\0') return false;
  const name = head.subarray(at + 8);
  const end = name.indexOf(0);
  return end > 0 && name.toString('latin1', 0, end) !== 'none';
}

/**
 * Below this size (decompressed) a binary trace is parsed on this thread: a worker costs 0.2-0.45
 * CPU s to start, which a recorded 9.5 MB perf.data (97,000 events) or the stress run's 3 MB
 * zstd .dat (330,000 events) did not win back at a load average of 5 (bench:ingest).
 */
const INLINE_BYTES = 16 << 20;
/**
 * A packed .dat's data is about this many times its size (stress: 3 MB of 12 MB; the bench's
 * recorded one: 16 MB of 2.6 M events, which was parsed inline, its parse and appends one after
 * the other).
 */
const PACKED_RATIO = 4;

/** Whether the (uncompressed) binary trace at `file` is parsed on this thread: by its size. */
export function binaryParsesInline(
  file: string,
  packed: boolean,
  parseOn: IngestOptions['parseOn'],
): boolean {
  return parsesInline(file, parseOn, packed ? INLINE_BYTES / PACKED_RATIO : INLINE_BYTES);
}

/**
 * Whether `file` is parsed on this thread, as ingest will find it from its first bytes (a
 * compressed binary trace is taken for text: its size is known only once decompressed).
 */
export function fileParsesInline(file: string, parseOn: IngestOptions['parseOn']): boolean {
  const head = fileHead(file);
  if (!head) return true; // ingest reports it
  return binaryKind(head)
    ? binaryParsesInline(file, packedDat(head), parseOn)
    : parsesInline(file, parseOn);
}

/** Reads the binary trace `opened` (binary-parse.ts), on a worker thread unless it is small. */
export async function ingestBinary(
  file: string,
  opened: OpenedBinary,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
  pending: ParseWorker | null,
): Promise<FileSummary> {
  try {
    const job: BinaryJob = {
      ...(await jobBase(file, fileId, firstId, loader, opts)),
      kind: opened.kind,
      path: opened.path,
      compression: opened.compression,
      bytes: fs.statSync(file).size,
      probes: opts.probes,
      kallsyms: opts.kallsyms,
      filter: opts.filter ?? {},
    };
    return await storeParsed(
      { kind: 'binary', job },
      loader,
      opts,
      binaryParsesInline(opened.path, opened.packed, opts.parseOn),
      (post) => new BinaryParser(job, post),
      pending,
    );
  } finally {
    opened.cleanup();
  }
}
