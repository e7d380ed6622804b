// x86-64 page-table geometry and page-table page lifetime (arch/x86/include/asm/pgtable_64_types.h,
// mm/memory.c __pte_alloc/__pmd_alloc/__pud_alloc/__p4d_alloc and free_pgd_range).
//
// Entries stay keyed by virtual page number (Mm.ptes); what the radix tree adds is which
// page-table pages exist. The kernel allocates one the first time an entry under it is installed
// and frees it only in free_pgtables (munmap, exit): MADV_DONTNEED and a zap leave it in place.
import type { Mm } from './types.js';
import { PAGE_SIZE } from './types.js';

export type PagingLevels = 4 | 5;

export const LEVEL_NAMES = ['pte', 'pmd', 'pud', 'p4d'] as const;

export class PagingGeometry {
  /** TASK_SIZE_MAX: the top of user space (47 or 56 address bits, less a guard page). */
  readonly taskSize: number;
  /** Bytes one table spans, lowest level first: a PTE table maps 2 MiB, a PMD table 1 GiB, a PUD
   *  table 512 GiB, a P4D table (5 levels only) 256 TiB. The PGD is the mm's own, never freed. */
  readonly spans: number[];

  constructor(readonly levels: PagingLevels) {
    this.taskSize = 2 ** (levels === 5 ? 56 : 47) - PAGE_SIZE;
    this.spans = [2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48].slice(0, levels - 1);
  }

  /** Indices of va in each table, top down: pgd, p4d (5 levels), pud, pmd, pte. */
  indices(va: number): Record<string, number> {
    const idx = (shift: number) => Math.floor(va / 2 ** shift) % 512;
    return this.levels === 5
      ? { pgd: idx(48), p4d: idx(39), pud: idx(30), pmd: idx(21), pte: idx(12) }
      : { pgd: idx(39), pud: idx(30), pmd: idx(21), pte: idx(12) };
  }

  /** Tables an entry at va needs that mm does not have yet: allocates them, returns how many. */
  pgtable_alloc(mm: Mm, va: number): number {
    let n = 0;
    for (let l = 0; l < this.spans.length; l++) {
      const key = Math.floor(va / this.spans[l]);
      const tables = mm.pgtables[l];
      if (tables.has(key)) break;
      tables.add(key);
      n++;
    }
    return n;
  }

  /**
   * free_pgtables over an unmapped [start, end): a table goes when all it spans lies between the
   * VMAs left around the hole (free_pgd_range's floor and ceiling), at every level.
   */
  free_pgtables(mm: Mm, start: number, end: number): void {
    let floor = 0;
    let ceiling = this.taskSize + PAGE_SIZE;
    for (const v of mm.vmas) {
      if (v.end <= start && v.end > floor) floor = v.end;
      if (v.start >= end && v.start < ceiling) ceiling = v.start;
    }
    for (let l = 0; l < this.spans.length; l++) {
      const span = this.spans[l];
      const tables = mm.pgtables[l];
      const lo = Math.max(Math.ceil(floor / span), Math.floor(start / span));
      const hi = Math.min(Math.floor(ceiling / span), Math.ceil(end / span)); // exclusive
      if (hi - lo > tables.size) {
        for (const key of tables) if (key >= lo && key < hi) tables.delete(key);
      } else for (let key = lo; key < hi; key++) tables.delete(key);
    }
  }
}
