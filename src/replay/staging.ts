// The replay input's reorder window: events held until no later-read one can precede them.
import { eventBatch } from './input.js';

/**
 * Events staged while the trace's disorder may still put an earlier one before them: a min-heap
 * of slots by (ts, id), each slot's fields in growable columns (no object per event).
 */
export class Staging {
  b = eventBatch(1024);
  str: (string | null)[] = [];
  private free: number[] = [];
  private heap: number[] = [];
  private used = 0;

  get size(): number {
    return this.heap.length;
  }

  /** A slot to write an event into (push it when written). */
  slot(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.used === this.b.id.length) this.grow();
    return this.used++;
  }

  private grow(): void {
    const old = this.b;
    const n = 2 * old.id.length;
    const b = eventBatch(n);
    b.id.set(old.id);
    b.ts.set(old.ts);
    b.cpu.set(old.cpu);
    b.tid.set(old.tid);
    b.tgid.set(old.tgid);
    b.comm.set(old.comm);
    b.k.set(old.k);
    b.slots.set(old.slots);
    b.s.set(old.s);
    this.b = b;
  }

  /** Whether slot i comes before slot j: (ts, id) compared exactly, word by word. */
  private less(i: number, j: number): boolean {
    const t = this.b.tsw;
    if (t[2 * i + 1] !== t[2 * j + 1]) return t[2 * i + 1] < t[2 * j + 1];
    if (t[2 * i] !== t[2 * j]) return t[2 * i] >>> 0 < t[2 * j] >>> 0;
    const d = this.b.idw;
    if (d[2 * i + 1] !== d[2 * j + 1]) return d[2 * i + 1] < d[2 * j + 1];
    return d[2 * i] >>> 0 < d[2 * j] >>> 0;
  }

  push(j: number): void {
    const a = this.heap;
    let i = a.push(j) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  min(): number {
    return this.heap[0];
  }

  /** Takes the first slot off the heap; the caller copies it out, then frees it. */
  pop(): number {
    const a = this.heap;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }

  release(j: number): void {
    this.str[j] = null;
    this.free.push(j);
  }
}
