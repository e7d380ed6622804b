// Events of one CPU's ring-buffer pages, as the kernel reads them (kernel/trace/ring_buffer.c):
// a page header (timestamp, commit), then events with a 4-byte header of type_len (5 bits) and
// time_delta (27 bits). type_len 29 is padding (a discarded event; its delta is not time),
// 30 a time extend, 31 an absolute timestamp, 0 a data event with its length in array[0],
// 1..28 a data event of type_len * 4 bytes.

import { i32be, i32le } from './bytes.js';

/** Ring-buffer page commit flags and the mask of its size (include/linux/ring_buffer.h). */
const RB_MISSED_EVENTS = 0x80000000;
const RB_MISSED_STORED = 0x40000000;
const COMMIT_MASK = (1 << 27) - 1;
export const TS_SHIFT = 27;
const PADDING = 29;
export const TIME_EXTEND = 30;
const TIME_STAMP = 31;
/** The largest type_len of a data event; longer ones have type_len 0 and their length in array[0]. */
export const MAX_DATA_TYPE_LEN = 28;
const SAFE = Number.MAX_SAFE_INTEGER;

/** Where a page came from, for errors: a file offset, or the compressed chunk's. */
export interface Page {
  buf: Buffer;
  /** Offset of the page in buf. */
  at: number;
  /** File offset to name in errors. */
  fileOffset: number;
}

export type PageSource = () => Page | null;

export class CpuEvents {
  /** The current event: timestamp (ns on the trace clock, before offsets), record bytes. */
  ts: number | bigint = 0;
  buf: Buffer = Buffer.alloc(0);
  /** Offset of the record (common_type first) in buf, and its length. */
  rec = 0;
  len = 0;
  /** Events the kernel dropped before this event's page (-1: some, count unknown); 0 when none
   *  or when this is not the page's first event. */
  missed = 0;
  /** File offset of the current page (of its compressed chunk when compressed). */
  pageOffset = 0;

  private pos = 0;
  private end = 0;
  private pageMissed = 0;
  /** Missed events of pages read since the last data event: reported with the next one, or
   *  (at the end of the data) left here. */
  pending = 0;
  private readonly commitHigh: number;

  constructor(
    readonly cpu: number,
    private readonly pages: PageSource,
    private readonly le: boolean,
    private readonly longSize: number,
    private readonly dataOffset: number,
    private readonly fail: (offset: number, problem: string) => never,
  ) {
    this.commitHigh = longSize === 8 && !le ? 4 : 0;
  }

  private u32(p: number): number {
    return (this.le ? i32le(this.buf, p) : i32be(this.buf, p)) >>> 0;
  }

  private loadPage(): boolean {
    for (;;) {
      const page = this.pages();
      if (!page) return false;
      const { buf, at } = page;
      this.buf = buf;
      this.pageOffset = page.fileOffset;
      const lo = this.le ? buf.readUInt32LE(at) : buf.readUInt32BE(at + 4);
      const hi = this.le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at);
      this.ts = hi < 0x200000 ? hi * 0x100000000 + lo : (BigInt(hi) << 32n) | BigInt(lo);
      // The commit word is a `long`: its low 32 bits hold size and flags.
      const commit = this.u32(at + 8 + this.commitHigh);
      const size = commit & COMMIT_MASK;
      const pageSize = buf.length - at;
      this.pos = at + this.dataOffset;
      this.end = this.pos + size;
      if (this.end > at + pageSize)
        this.fail(
          page.fileOffset,
          `CPU ${this.cpu}: ring-buffer page commit ${size} is larger than the page (${pageSize} bytes)`,
        );
      this.pageMissed = 0;
      if (commit & RB_MISSED_EVENTS) {
        if (commit & RB_MISSED_STORED && this.end + this.longSize <= at + pageSize) {
          const n = this.u32(this.end + (this.longSize === 8 && !this.le ? 4 : 0));
          this.pageMissed = n > 0 ? n : -1;
        } else this.pageMissed = -1;
      }
      if (size > 0 || this.pageMissed) return true;
    }
  }

  private addDelta(d: number): void {
    const t = this.ts;
    if (typeof t === 'number') {
      const s = t + d;
      this.ts = s <= SAFE ? s : BigInt(t) + BigInt(d);
    } else this.ts = t + BigInt(d);
  }

  /** Moves to the next data event; false at the end of this CPU's data. */
  next(): boolean {
    this.missed = 0;
    for (;;) {
      if (this.pos >= this.end) {
        if (!this.loadPage()) return false;
        // A page whose missed-events flag is set reports them before its first event.
        if (this.pageMissed)
          this.pending =
            this.pending < 0 || this.pageMissed < 0 ? -1 : this.pending + this.pageMissed;
        continue;
      }
      const p = this.pos;
      if (p + 4 > this.end)
        this.fail(
          this.pageOffset,
          `CPU ${this.cpu}: event header at page byte ${p} runs past the commit`,
        );
      const h = this.u32(p);
      const typeLen = this.le ? h & 31 : h >>> 27;
      const delta = this.le ? h >>> 5 : h & COMMIT_MASK;
      if (typeLen === PADDING) {
        // A null event (delta 0) ends the page's data; a discarded one is skipped by its length.
        if (delta === 0) {
          this.pos = this.end;
          continue;
        }
        const n = this.u32(p + 4);
        if (n < 4) this.fail(this.pageOffset, `CPU ${this.cpu}: padding of ${n} bytes`);
        this.pos = p + 4 + n;
        continue;
      }
      if (typeLen === TIME_EXTEND) {
        const ext = this.u32(p + 4);
        this.addDelta(ext * (1 << TS_SHIFT) + delta);
        this.pos = p + 8;
        continue;
      }
      if (typeLen === TIME_STAMP) {
        const abs = BigInt(this.u32(p + 4)) * BigInt(1 << TS_SHIFT) + BigInt(delta);
        // rb_fix_abs_ts: the stamp keeps 59 bits; the top 5 come from the time before it.
        const prev = BigInt(this.ts);
        const msb = prev & (0x1fn << 59n);
        let t = abs | msb;
        if (msb && t < prev) t += 1n << 59n;
        this.ts = t <= BigInt(SAFE) ? Number(t) : t;
        this.pos = p + 8;
        continue;
      }
      let data: number;
      let len: number;
      if (typeLen === 0) {
        len = this.u32(p + 4) - 4;
        data = p + 8;
        if (len < 0)
          this.fail(this.pageOffset, `CPU ${this.cpu}: event length ${len + 4} is too small`);
        // Checked before rounding up: `&` would wrap a length of 2^31 or more to a negative one.
        if (len > this.end - data)
          this.fail(
            this.pageOffset,
            `CPU ${this.cpu}: event of ${len} bytes at page byte ${p} runs past the commit`,
          );
        this.pos = data + ((len + 3) & ~3);
      } else {
        len = typeLen * 4;
        data = p + 4;
        this.pos = data + len;
      }
      if (this.pos > this.end)
        this.fail(
          this.pageOffset,
          `CPU ${this.cpu}: event of ${len} bytes at page byte ${p} runs past the commit`,
        );
      this.addDelta(delta);
      this.rec = data;
      this.len = len;
      this.missed = this.pending;
      this.pending = 0;
      return true;
    }
  }
}
