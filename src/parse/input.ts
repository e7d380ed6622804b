// Opens a trace file as a stream of decompressed bytes; compression is detected by magic bytes.
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import xz from 'xz-decompress';
import { TraceInputError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Binary formats we recognise but do not read as text, with what to do instead. */
const BINARY_MAGIC: [string, number[], string][] = [
  [
    'trace-cmd .dat',
    [0x17, 0x08, 0x44, ...Buffer.from('tracing')],
    'convert it with `trace-cmd report -i FILE > FILE.txt` and ingest the text',
  ],
  [
    'perf.data',
    [...Buffer.from('PERFILE2')],
    'convert it with `perf script -i FILE > FILE.txt` and ingest the text',
  ],
];

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

export function detectCompression(head: Buffer): Compression {
  for (const [name, magic] of MAGIC) if (startsWith(head, magic)) return name;
  return 'none';
}

function readHead(path: string, n = 16): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function zstdStream(): Transform {
  const d = new ZstdDecompress((data) =>
    t.push(Buffer.from(data.buffer, data.byteOffset, data.length)),
  );
  const push = (c: Uint8Array, final: boolean) => d.push(c, final);
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        push(chunk, false);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      try {
        push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  return t;
}

/**
 * A web stream that reads `raw` only when pulled. Not Readable.toWeb: its 'data' listener can
 * enqueue after a cancel and throw an uncaught ERR_INVALID_STATE (nodejs/node#54205, #64529),
 * which an ingest that stops early (a --to filter, the binary sniff) triggers.
 */
function pulled(raw: Readable): ReadableStream<Uint8Array> {
  const it = raw[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await it.next();
      if (r.done) c.close();
      else c.enqueue(r.value as Uint8Array);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

export interface OpenedTrace {
  compression: Compression;
  /** Size of the file on disk (compressed bytes when compressed). */
  bytes: number;
  /** Decompressed bytes. */
  stream: Readable;
  /** Compressed bytes read so far, for progress. */
  bytesRead(): number;
}

/** Bytes read per chunk. */
const CHUNK = 1 << 20;

/** Size and compression of a trace file, after the checks every reader makes. */
function checkTrace(path: string): { size: number; compression: Compression } {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw new TraceInputError(path, null, `cannot open: ${(e as Error).message}`);
  }
  if (st.isDirectory())
    throw new TraceInputError(path, null, 'is a directory, expected a trace file');
  const head = readHead(path);
  for (const [what, magic, fix] of BINARY_MAGIC) {
    if (startsWith(head, magic)) {
      throw new TraceInputError(path, 0, `is a ${what} file, not trace text; ${fix}`);
    }
  }
  return { size: st.size, compression: detectCompression(head) };
}

/** A trace's decompressed bytes, chunk by chunk (openTrace, traceChunks). */
export interface TraceChunks {
  compression: Compression;
  /** Size of the file on disk (compressed bytes when compressed). */
  bytes: number;
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>;
  /** Compressed bytes read so far, for progress. */
  bytesRead(): number;
}

/**
 * A trace's decompressed bytes for a reader that is done with a chunk's bytes when it asks for the
 * next but one (lines.ts readLines). An uncompressed file is read with blocking reads into two
 * buffers in turn: the parsing worker has nothing else to do meanwhile, a read through libuv's
 * thread pool cost a hand-off between threads per chunk, and a new buffer per chunk cost page
 * faults and garbage collections (external memory).
 */
export function traceChunks(path: string): TraceChunks {
  const { size, compression } = checkTrace(path);
  if (compression !== 'none') {
    const o = openTrace(path);
    return { compression, bytes: o.bytes, chunks: o.stream, bytesRead: o.bytesRead };
  }
  const read = { bytes: 0 };
  return {
    compression,
    bytes: size,
    chunks: blockingChunks(path, read),
    bytesRead: () => read.bytes,
  };
}

function* blockingChunks(path: string, read: { bytes: number }): Generator<Buffer> {
  const fd = fs.openSync(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
    for (let i = 0; ; i ^= 1) {
      const n = fs.readSync(fd, bufs[i], 0, CHUNK, null);
      if (n === 0) return;
      read.bytes += n;
      yield bufs[i].subarray(0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function openTrace(path: string): OpenedTrace {
  const { size, compression } = checkTrace(path);
  const raw = fs.createReadStream(path, { highWaterMark: CHUNK });
  let stream: Readable;
  switch (compression) {
    case 'gzip':
      stream = raw.pipe(zlib.createGunzip({ chunkSize: 1 << 20 }));
      break;
    case 'zstd':
      stream = raw.pipe(zstdStream());
      break;
    case 'xz':
      stream = Readable.fromWeb(new xz.XzReadableStream(pulled(raw)) as never);
      break;
    default:
      stream = raw;
  }
  if (stream !== raw) raw.on('error', (e) => stream.destroy(e));
  return { compression, bytes: size, stream, bytesRead: () => raw.bytesRead };
}
