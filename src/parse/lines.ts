// Splits a byte stream into lines, in batches, keeping memory bounded by the chunk size.
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { TraceInputError } from './errors.js';

export interface LineBatch {
  /** 1-based number of lines[0]. */
  firstLineNo: number;
  lines: string[];
  /** True when the last line of the input had no terminating newline. */
  truncatedLast: boolean;
}

/** Printable text check on the first chunk: NUL bytes or many control bytes mean binary input. */
function looksBinary(buf: Buffer): number {
  const n = Math.min(buf.length, 4096);
  let ctrl = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b === 0) return i;
    if (b < 9 || (b > 13 && b < 32)) ctrl++;
  }
  return ctrl > n / 10 ? 0 : -1;
}

// Text is decoded and split 64 KiB at a time: V8 puts bigger strings in its large-object space,
// one fresh mapping each, and decoding and flattening 1 MiB chunks there cost 4x the time. The
// first chunk stays whole, so format detection samples the same lines as ever.
const PIECE = 64 << 10;

export async function* readLines(path: string, stream: Readable): AsyncGenerator<LineBatch> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let lineNo = 1;
  let first = true;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (first) {
      first = false;
      const at = looksBinary(chunk);
      if (at >= 0) {
        throw new TraceInputError(path, null, 'binary data where trace text was expected', at);
      }
    }
    const step = lineNo === 1 ? chunk.length : PIECE;
    for (let at = 0; at < chunk.length; at += step) {
      const text = carry + decoder.write(chunk.subarray(at, at + step));
      const lines = text.split('\n');
      carry = lines.pop()!;
      if (lines.length) {
        yield { firstLineNo: lineNo, lines, truncatedLast: false };
        lineNo += lines.length;
      }
    }
  }
  carry += decoder.end();
  if (carry.length) yield { firstLineNo: lineNo, lines: [carry], truncatedLast: true };
}
