// An event's typed rows by the bytes of its printed fields: many events print the same fields
// again and again (tlb_flush's reason, rss_stat's counters, page faults at the same addresses,
// mmap_lock's mm), and a row found again costs a hash and a compare of the body's bytes, not a
// match of its print fmt (the most costly step of parsing a line). A row depends on nothing but
// the bytes, so a remembered one is the row the match would give.
import type { FieldValue } from './format.js';
import { sameBytes } from './interner.js';

/** Remembered bodies, by a hash of their bytes, two slots per hash value (a power of two). */
const SLOTS = 1024;
/** Longer bodies are not remembered (at most SLOTS of them are kept: this bounds the memory). */
const MAX_BODY = 256;
/** Lookups per verdict: a memo found in fewer than half of them is given up (bodies that vary). */
const WINDOW = 4096;

export class RowMemo {
  private readonly bodies: string[] = new Array<string>(SLOTS).fill('');
  private readonly rows: (FieldValue[] | null)[] = new Array<FieldValue[] | null>(SLOTS).fill(null);
  private lookups = 0;
  private hits = 0;
  private on = true;

  /**
   * The row of the body [s, e) of `b` (printable ASCII): remembered, or `extract`'s (a row that
   * extract reuses is copied). Null where extract gives none.
   */
  row(
    b: Buffer,
    s: number,
    e: number,
    extract: (b: Buffer, s: number, e: number) => FieldValue[] | null,
  ): FieldValue[] | null {
    const n = e - s;
    if (!this.on || n > MAX_BODY) return extract(b, s, e);
    let h = n;
    for (let i = s; i < e; i++) h = (Math.imul(h, 31) + b[i]) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    // Two slots per hash: two bodies that share one taking turns do not push each other out.
    const slot = (h ^ (h >>> 16)) & (SLOTS - 2);
    if (++this.lookups === WINDOW) this.verdict();
    const rows = this.rows;
    const bodies = this.bodies;
    for (let w = slot; w < slot + 2; w++) {
      const row = rows[w];
      if (row !== null && sameBytes(bodies[w], b, s, n)) {
        this.hits++;
        return row;
      }
    }
    const fresh = extract(b, s, e);
    if (fresh !== null) {
      // The newer of the two first.
      bodies[slot + 1] = bodies[slot];
      rows[slot + 1] = rows[slot];
      bodies[slot] = b.toString('latin1', s, e);
      rows[slot] = fresh.slice();
    }
    return fresh;
  }

  private verdict(): void {
    if (this.hits * 2 < WINDOW) {
      this.on = false;
      this.rows.fill(null);
      this.bodies.fill('');
    }
    this.lookups = 0;
    this.hits = 0;
  }
}
