// The VMAs of an mm (mm/vma.c, mm/mmap.c): lookup, insertion, splits and removal.
import { Model } from './model.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { type Mm, type Vma } from './types.js';

export function find_vma(mm: Mm, va: number): Vma | undefined {
  // vmas are sorted and few per mm: binary search
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (va < v[mid].start) hi = mid - 1;
    else if (va >= v[mid].end) lo = mid + 1;
    else return v[mid];
  }
  return undefined;
}

export function insertVma(m: Model, mm: Mm, vma: Vma): void {
  if (vma.file !== null) m.fileVmas.set(vma.file, (m.fileVmas.get(vma.file) ?? 0) + 1);
  const i = mm.vmas.findIndex((v) => v.start > vma.start);
  if (i < 0) mm.vmas.push(vma);
  else mm.vmas.splice(i, 0, vma);
}

/** Splits VMAs so that [start, end) is covered by whole VMAs, then returns those (vma.c __split_vma). */
export function splitRange(m: Model, mm: Mm, start: number, end: number): Vma[] {
  const out: Vma[] = [];
  for (const v of [...mm.vmas]) {
    if (v.end <= start || v.start >= end) continue;
    let cur = v;
    if (cur.start < start) vma_adjust_trans_huge(m, mm, cur, start);
    if (cur.end > end) vma_adjust_trans_huge(m, mm, cur, end);
    if (cur.start < start) {
      const right = m.newVma({ ...cur, start, anonVma: cur.anonVma });
      right.since = cur.since;
      cur.end = start;
      insertVma(m, mm, right);
      cur = right;
    }
    if (cur.end > end) {
      const right = m.newVma({ ...cur, start: end, anonVma: cur.anonVma });
      right.since = cur.since;
      cur.end = end;
      insertVma(m, mm, right);
    }
    out.push(cur);
  }
  return out;
}

/**
 * vma_adjust_trans_huge -> split_huge_pmd_address (6.12 mm/huge_memory.c): splitting a VMA at an
 * address inside a PMD-sized range it covers calls __split_huge_pmd there, which starts an
 * MMU_NOTIFY_CLEAR over the whole 2 MiB before it even looks whether the PMD is huge. It runs
 * only where a page table exists (mm_find_pmd); the model takes any entry in the range as one.
 */
export function vma_adjust_trans_huge(m: Model, mm: Mm, vma: Vma, address: number): void {
  const size = 512 * 4096;
  const haddr = address - (address % size);
  if (haddr === address || haddr < vma.start || haddr + size > vma.end) return;
  if (!m.ptesIn(mm, haddr, haddr + size).length) return;
  m.mmu_notifier_invalidate(mm, haddr, haddr + size, MMU_NOTIFY.CLEAR);
}

export function removeVma(m: Model, mm: Mm, vma: Vma): void {
  m.sink.vma(mm, vma, m.now);
  mm.vmas.splice(mm.vmas.indexOf(vma), 1);
  if (vma.file !== null) {
    const n = (m.fileVmas.get(vma.file) ?? 0) - 1;
    if (n > 0) m.fileVmas.set(vma.file, n);
    else {
      m.fileVmas.delete(vma.file);
      m.onFileUnmapped?.(vma.file);
    }
  }
}

/** Closes a VMA's interval because its attributes change now. */
export function touchVma(m: Model, mm: Mm, vma: Vma): void {
  if (vma.since !== m.now) m.sink.vma(mm, vma, m.now);
  vma.since = m.now;
}
