// The x86-64 radix geometry (arch/x86/include/asm/pgtable_64_types.h) and page-table page lifetime:
// tables are allocated on first use and freed only by free_pgtables, within the hole's floor/ceiling.
import { describe, expect, it } from 'vitest';
import { semantics } from '../src/replay/kernel.js';
import { do_mmap, do_munmap, do_madvise } from '../src/replay/mmap.js';
import { Model, type Sink } from '../src/replay/model.js';
import { PagingGeometry } from '../src/replay/pgtable.js';

const sink: Sink = { pte() {}, folio() {}, vma() {}, violation() {} };
const MAP_PRIVATE_ANON = 0x22;
const MADV_DONTNEED = 4;

function touch(m: Model, mm: ReturnType<Model['newMm']>, va: number): number {
  const before = m.pgtableAllocs;
  m.set_pte_at(mm, va, { kind: 'swap', folio: null, write: false, dirty: false, accessed: false, softDirty: false, uffdWp: false, pmd: false, index: 0, entryWrite: false, confidence: 'inferred', preTrace: false });
  return m.pgtableAllocs - before;
}

describe('page-table geometry', () => {
  it('splits an address into 9-bit indices per level, 4 or 5 levels', () => {
    const va = 0x7fabd49e4318;
    const bits = (shift: number) => Number((BigInt(va) >> BigInt(shift)) & 511n);
    expect(new PagingGeometry(4).indices(va)).toEqual({ pgd: bits(39), pud: bits(30), pmd: bits(21), pte: bits(12) });
    expect(new PagingGeometry(5).indices(va)).toEqual({ pgd: 0, p4d: bits(39), pud: bits(30), pmd: bits(21), pte: bits(12) });
    expect(new PagingGeometry(4).taskSize).toBe(2 ** 47 - 4096);
    expect(new PagingGeometry(5).taskSize).toBe(2 ** 56 - 4096);
  });

  it('allocates each table once, on the first entry beneath it', () => {
    for (const levels of [4, 5] as const) {
      const m = new Model(semantics('6.18'), sink, new PagingGeometry(levels));
      const mm = m.newMm(1, false);
      expect(touch(m, mm, 0x7f0000000000)).toBe(levels - 1); // pte, pmd, pud (, p4d)
      expect(touch(m, mm, 0x7f0000001000)).toBe(0);
      expect(touch(m, mm, 0x7f0000200000)).toBe(1); // next 2 MiB: a pte table
      expect(touch(m, mm, 0x7f0040000000)).toBe(2); // next 1 GiB: pmd and pte tables
    }
  });

  it('frees tables on munmap within the neighbours, never on MADV_DONTNEED', () => {
    const m = new Model(semantics('6.18'), sink);
    const mm = m.newMm(1, false);
    const a = 0x7f0000000000;
    do_mmap(m, mm, a, 0x10000, 3, MAP_PRIVATE_ANON, -1, 0, null);
    do_mmap(m, mm, a + 0x100000, 0x10000, 3, MAP_PRIVATE_ANON, -1, 0, null);
    touch(m, mm, a);
    touch(m, mm, a + 0x100000);
    do_madvise(m, mm, a, 0x10000, MADV_DONTNEED);
    expect(touch(m, mm, a)).toBe(0);
    // The other VMA shares the 2 MiB span: the pte table stays.
    do_munmap(m, mm, a, 0x10000);
    expect(mm.pgtables[0].has(a / 2 ** 21)).toBe(true);
    // The last VMA goes: nothing is left around the hole, so every table under the pgd goes.
    do_munmap(m, mm, a + 0x100000, 0x10000);
    expect(mm.pgtables.map((t) => t.size)).toEqual([0, 0, 0]);
    expect(touch(m, mm, a)).toBe(3);
  });
});
