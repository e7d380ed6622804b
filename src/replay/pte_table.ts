// An mm's entries by virtual page number, kept as the kernel keeps them: a 512-entry table per
// PMD (PTRS_PER_PTE), found by the PMD's index. A page number above 2^31 is a heap number, which a
// Map keyed by it allocates on every lookup; a PMD's index (page number / 512) stays a small
// integer. Map's methods; iteration visits the tables in the order they were made, each in address
// order. An index within a table is taken as vpn - pmd * 512: `%` on a page number above 2^31 (a
// double) is a call to fmod, about 9 ns against 1.
import type { Pte } from './types.js';

const PTRS_PER_PTE = 512;

/** One PTE table: its entries by index, and how many are set. */
interface Table {
  n: number;
  e: (Pte | undefined)[];
}

export class PteTable {
  private readonly tables = new Map<number, Table>();
  /** Entries held. */
  size = 0;

  get(vpn: number): Pte | undefined {
    const pmd = Math.floor(vpn / PTRS_PER_PTE);
    return this.tables.get(pmd)?.e[vpn - pmd * PTRS_PER_PTE];
  }

  has(vpn: number): boolean {
    return this.get(vpn) !== undefined;
  }

  set(vpn: number, p: Pte): this {
    const pmd = Math.floor(vpn / PTRS_PER_PTE);
    let t = this.tables.get(pmd);
    if (!t) {
      t = { n: 0, e: new Array<Pte | undefined>(PTRS_PER_PTE).fill(undefined) };
      this.tables.set(pmd, t);
    }
    const i = vpn - pmd * PTRS_PER_PTE;
    if (t.e[i] === undefined) {
      t.n++;
      this.size++;
    }
    t.e[i] = p;
    return this;
  }

  delete(vpn: number): boolean {
    const pmd = Math.floor(vpn / PTRS_PER_PTE);
    const t = this.tables.get(pmd);
    const i = vpn - pmd * PTRS_PER_PTE;
    if (!t || t.e[i] === undefined) return false;
    t.e[i] = undefined;
    this.size--;
    // An empty table goes: the model's memory follows live state.
    if (--t.n === 0) this.tables.delete(pmd);
    return true;
  }

  /** The page numbers held in [s, e), in order. */
  keysIn(s: number, e: number): number[] {
    const out: number[] = [];
    if (s >= e) return out;
    const first = Math.floor(s / PTRS_PER_PTE);
    const last = Math.floor((e - 1) / PTRS_PER_PTE);
    const pmds: number[] = [];
    if (last - first < this.tables.size) {
      for (let pmd = first; pmd <= last; pmd++) if (this.tables.has(pmd)) pmds.push(pmd);
    } else {
      for (const pmd of this.tables.keys()) if (pmd >= first && pmd <= last) pmds.push(pmd);
      pmds.sort((a, b) => a - b);
    }
    for (const pmd of pmds) {
      const t = this.tables.get(pmd)!;
      const base = pmd * PTRS_PER_PTE;
      const from = Math.max(s - base, 0);
      const to = Math.min(e - base, PTRS_PER_PTE);
      for (let i = from; i < to; i++) if (t.e[i] !== undefined) out.push(base + i);
    }
    return out;
  }

  *entries(): IterableIterator<[number, Pte]> {
    for (const [pmd, t] of this.tables)
      for (let i = 0; i < PTRS_PER_PTE; i++) {
        const p = t.e[i];
        if (p !== undefined) yield [pmd * PTRS_PER_PTE + i, p];
      }
  }

  *keys(): IterableIterator<number> {
    for (const [vpn] of this.entries()) yield vpn;
  }

  *values(): IterableIterator<Pte> {
    for (const [, p] of this.entries()) yield p;
  }

  [Symbol.iterator](): IterableIterator<[number, Pte]> {
    return this.entries();
  }
}
