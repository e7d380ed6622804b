// PteTable (src/replay/pte_table.ts) against a plain Map of the same entries: lookups, deletes,
// iteration order within a table, and keysIn, whose two ways (probing each PMD of the range, or
// scanning the tables held) must both give the page numbers of the range in order.
import { describe, expect, it } from 'vitest';
import { PteTable } from '../src/replay/pte_table.js';
import type { Pte } from '../src/replay/types.js';

const pte = (n: number) => ({ kind: 'present', index: n }) as unknown as Pte;

/** A deterministic pseudo-random sequence (xorshift32). */
function rng(seed: number) {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('PteTable', () => {
  it('holds what a Map holds, and keysIn gives every page of a range in order', () => {
    const r = rng(7);
    const t = new PteTable();
    const ref = new Map<number, Pte>();
    // Page numbers across a few PMDs near 0 and near 2^35 (addresses near 2^47).
    const vpn = () => (r() < 0.5 ? 0 : 2 ** 35 - 4096) + Math.floor(r() * 4096);
    for (let i = 0; i < 20_000; i++) {
      const v = vpn();
      if (r() < 0.3) expect(t.delete(v)).toBe(ref.delete(v));
      else {
        const p = pte(i);
        t.set(v, p);
        ref.set(v, p);
      }
      expect(t.size).toBe(ref.size);
    }
    for (const [v, p] of ref) expect(t.get(v)).toBe(p);
    const keys = [...ref.keys()].sort((a, b) => a - b);
    for (let i = 0; i < 300; i++) {
      const a = vpn();
      // Short ranges probe each PMD; ranges spanning more PMDs than are held scan the tables.
      const b = r() < 0.5 ? a + Math.floor(r() * 2000) : a + Math.floor(r() * 2 ** 36);
      expect(t.keysIn(a, b)).toEqual(keys.filter((k) => k >= a && k < b));
    }
    expect(t.keysIn(10, 10)).toEqual([]);
  });
});
