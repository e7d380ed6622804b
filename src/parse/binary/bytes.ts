// Bounds-checked reads of a binary trace: positional reads of the file, and a cursor over a buffer
// that knows which file offset its bytes came from, so every error names the file and the byte.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { Decompress as ZstdStream } from 'fzstd';
import { TraceInputError } from '../errors.js';

// Reads of 16 and 32 bits by hand, without Buffer's read methods' argument checks: a quarter of
// their time (13-18 ns against 54-77 for two reads), on the paths taken per record. The caller
// keeps them within the buffer (a byte past it reads as 0, not as an error).
export function i32le(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}
export function i32be(b: Uint8Array, p: number): number {
  return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
}
export function u16le(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8);
}
export function u16be(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

/** Decompressed sections and chunks larger than this are refused (a size field gone wrong). */
export const MAX_INFLATED = 1 << 30;

export class BinaryFile {
  readonly size: number;
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'r');
    this.size = fs.fstatSync(this.fd).size;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  fail(offset: number, problem: string): never {
    throw new TraceInputError(this.path, null, problem, offset);
  }

  /** `len` bytes at `offset`, or an error naming what was being read. */
  read(offset: number, len: number, what: string): Buffer {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(len) ||
      offset < 0 ||
      len < 0 ||
      offset + len > this.size
    ) {
      this.fail(
        offset,
        `${what}: ${len} bytes at offset ${offset} run past the end of the file (${this.size} bytes; truncated?)`,
      );
    }
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(this.fd, buf, got, len - got, offset + got);
      if (n === 0) this.fail(offset + got, `${what}: unexpected end of file`);
      got += n;
    }
    return buf;
  }

  /** A cursor over `len` bytes at `offset`. */
  cursor(offset: number, len: number, what: string, littleEndian: boolean): Cursor {
    return new Cursor(this, this.read(offset, len, what), offset, littleEndian, what);
  }
}

/**
 * Reads numbers and strings from a buffer. `base` is the file offset of the buffer's first byte,
 * or, for decompressed bytes, of the compressed block they came from (`inflated`).
 */
export class Cursor {
  pos = 0;

  constructor(
    readonly file: BinaryFile,
    readonly buf: Buffer,
    readonly base: number,
    readonly le: boolean,
    readonly what: string,
    readonly inflated = false,
    /** A window on a longer file: running out of bytes throws NeedMore, to retry with more. */
    readonly partial = false,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The file offset of the cursor (of its compressed block, for decompressed bytes). */
  get offset(): number {
    return this.inflated ? this.base : this.base + this.pos;
  }

  fail(problem: string): never {
    const where = this.inflated ? ` (byte ${this.pos} of its decompressed data)` : '';
    this.file.fail(this.offset, `${this.what}${where}: ${problem}`);
  }

  private need(n: number, what: string): void {
    if (this.partial && n >= 0 && this.pos + n > this.buf.length) throw new NeedMore();
    if (n < 0 || this.pos + n > this.buf.length)
      this.fail(`${what} needs ${n} bytes, ${this.remaining} left (truncated or a bad size)`);
  }

  u8(): number {
    this.need(1, 'a byte');
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2, 'a 2-byte number');
    const v = this.le ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'a 4-byte number');
    const v = this.le ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4, 'a 4-byte number');
    const v = this.le ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64big(): bigint {
    this.need(8, 'an 8-byte number');
    const v = this.le ? this.buf.readBigUInt64LE(this.pos) : this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** An 8-byte size or offset, which must fit a Number. */
  u64(what: string): number {
    const at = this.pos;
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      this.pos = at;
      this.fail(`${what} ${v} is not a plausible size or offset`);
    }
    return Number(v);
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A NUL-terminated string. */
  cstring(what: string): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0 && this.partial) throw new NeedMore();
    if (end < 0) this.fail(`${what}: no terminating NUL`);
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /** A string of `n` bytes (text sections: kallsyms, format files). */
  text(n: number, what: string): string {
    return this.bytes(n, what).toString('utf8');
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}

/** A partial cursor ran out of its window. */
export class NeedMore extends Error {}

export type Codec = 'zlib' | 'zstd';

export function codecOf(name: string): Codec | null {
  if (name === 'zlib') return 'zlib';
  if (name === 'zstd') return 'zstd';
  return null;
}

/**
 * Decompresses one block whose decompressed size the file states; any other size is an error. A
 * large zstd one (a v7 .dat's kallsyms section) goes through the system's `zstd` (inflateBlocks).
 */
export function inflate(
  file: BinaryFile,
  offset: number,
  codec: Codec,
  data: Buffer,
  size: number,
  what: string,
): Buffer {
  return inflateBlocks(file, codec, [{ offset, data, size, what }])[0];
}

function inflateOne(file: BinaryFile, { offset, data, size, what }: Block, codec: Codec): Buffer {
  if (size > MAX_INFLATED)
    file.fail(offset, `${what}: decompressed size ${size} is over the ${MAX_INFLATED}-byte limit`);
  let out: Buffer;
  try {
    if (codec === 'zlib') out = zlib.inflateSync(data, { maxOutputLength: Math.max(size, 1) });
    else out = zstdAtMost(data, size);
  } catch (e) {
    file.fail(offset, `${what}: ${codec} data does not decompress (${(e as Error).message})`);
  }
  if (out.length !== size)
    file.fail(offset, `${what}: decompressed to ${out.length} bytes, the file says ${size}`);
  return out;
}

/**
 * fzstd's output, of at most `size` bytes: more throws as it comes (a bomb stops there), fewer is
 * returned as it is, for the caller's size check. (fzstd's decompress into a given buffer returns
 * all of it, the bytes no frame wrote left zero.)
 */
function zstdAtMost(data: Buffer, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let n = 0;
  new ZstdStream((chunk) => {
    if (n + chunk.length > size) throw new Error(`more than the ${size} bytes stated`);
    out.set(chunk, n);
    n += chunk.length;
  }).push(data, true);
  return out.subarray(0, n);
}

/** A compressed block of a file: its offset (for errors), bytes and stated decompressed size. */
export interface Block {
  offset: number;
  data: Buffer;
  size: number;
  what: string;
}

/** Whether the system's `zstd` ran (null: not tried yet). */
let zstdCli: boolean | null = null;

/** Output below which fzstd costs less than starting `zstd` (~1 MB: 10-20 ms either way). */
const CLI_BYTES = 1 << 20;

/** Follows each block's output in `zstd`'s, to check where each block's output ends. */
const MARK = Buffer.from('mmreplay\0chunk\0\xff\xfe', 'latin1');
/** A zstd frame (RFC 8878) of one raw block holding MARK: single segment, content size 16. */
const MARK_FRAME = Buffer.concat([
  Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, MARK.length, 1 | (MARK.length << 3), 0, 0]),
  MARK,
]);

/**
 * Decompresses blocks in order (inflate). zstd blocks go through the system's `zstd`, when it is
 * installed, as one process for their frames concatenated, each followed by a frame of MARK: fzstd,
 * in JavaScript, took 0.65 of the 1.95 CPU s of ingesting the stress run's .dat (12 MB in 292
 * chunks). Where `zstd` is missing, fails on them, or a block's output is not its stated size (no
 * MARK after it), each block is inflated alone, which names a damaged one.
 */
export function inflateBlocks(file: BinaryFile, codec: Codec, blocks: Block[]): Buffer[] {
  const total = blocks.reduce((n, b) => n + b.size + MARK.length, 0);
  if (codec === 'zstd' && zstdCli !== false && total >= CLI_BYTES && total <= MAX_INFLATED) {
    const r = spawnSync('zstd', ['-d', '-c', '-q'], {
      input: Buffer.concat(blocks.flatMap((b) => [b.data, MARK_FRAME])),
      maxBuffer: total + 1,
    });
    zstdCli = !r.error;
    const out: Buffer[] = [];
    if (r.status === 0 && r.stdout.length === total) {
      let at = 0;
      for (const b of blocks) {
        const end = at + b.size;
        if (!r.stdout.subarray(end, end + MARK.length).equals(MARK)) break;
        out.push(r.stdout.subarray(at, end));
        at = end + MARK.length;
      }
    }
    if (out.length === blocks.length) return out;
  }
  return blocks.map((b) => inflateOne(file, b, codec));
}
