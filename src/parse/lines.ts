// Splits a byte stream into batches of whole lines, as bytes: the parser reads the common lines
// from the bytes (no string per line) and decodes only the others (lineText).
import { isAscii } from 'node:buffer';
import { TraceInputError } from './errors.js';

/** A batch of lines; the reader counts them (it walks them anyway). */
export interface LineBatch {
  /** Whole lines, each ended by '\n' but the last of a truncated input. */
  bytes: Buffer;
  /** True when the last line of the input had no terminating newline (this batch is that line). */
  truncatedLast: boolean;
  /**
   * ASCII with no tab, vertical tab, form feed or CR: a line's text is its bytes, and its only
   * whitespace (as a regex's `\s`) is ' '.
   */
  plain: boolean;
}

/** A line's text, as a UTF-8 decoder of the whole stream gives it ('\n' ends any sequence). */
export function lineText(b: Buffer, s: number, e: number): string {
  return b.toString('utf8', s, e);
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

function isPlain(b: Buffer): boolean {
  return (
    isAscii(b) && b.indexOf(9) < 0 && b.indexOf(11) < 0 && b.indexOf(12) < 0 && b.indexOf(13) < 0
  );
}

/**
 * Batches of the lines of `chunks`. A batch's bytes may be those of a chunk: they are valid until
 * the batch after next is asked for (traceChunks reuses its buffers).
 */
export async function* readLines(
  path: string,
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncGenerator<LineBatch> {
  let carry: Buffer | null = null;
  let first = true;
  let yielded = false;
  for await (const chunk of chunks) {
    if (first) {
      first = false;
      const at = looksBinary(chunk);
      if (at >= 0) {
        throw new TraceInputError(path, null, 'binary data where trace text was expected', at);
      }
    }
    let buf = chunk;
    let from = 0;
    if (carry && !yielded) {
      // Until a first batch, whole chunks: format detection samples the lines it always did.
      buf = Buffer.concat([carry, chunk]);
    } else if (carry) {
      // The line cut at the end of the last chunk, whole, as a small batch of its own (a copy of
      // the chunk would be one more chunk of garbage each time).
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        carry = Buffer.concat([carry, chunk]);
        continue;
      }
      const line = Buffer.concat([carry, chunk.subarray(0, nl + 1)]);
      yield { bytes: line, truncatedLast: false, plain: isPlain(line) };
      from = nl + 1;
    }
    const end = buf.lastIndexOf(10) + 1;
    carry = end < buf.length ? buf.subarray(Math.max(end, from)) : null;
    if (end <= from) continue;
    const bytes = buf.subarray(from, end);
    yielded = true;
    yield { bytes, truncatedLast: false, plain: isPlain(bytes) };
  }
  if (carry) yield { bytes: carry, truncatedLast: true, plain: isPlain(carry) };
}
