// mm/huge_memory.c: THP faults, PMD splits and copies, and splitting a large folio.
import {
  type Confidence,
  HPAGE_PMD_NR,
  HPAGE_PMD_SIZE,
  MM_ANONPAGES,
  type Mm,
  PAGE_SIZE,
  type Pte,
  type Vma,
  type Folio,
} from './types.js';
import { add_mm_counter, alloc_anon_folio, is_cow_mapping, type FaultEvidence } from './memory.js';
import type { Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';

/** THP eligibility for an anonymous fault (mm/huge_memory.c thp_vma_allowable_order, madvise mode). */
export function thp_eligible(
  vma: Vma,
  va: number,
  thpMode: 'always' | 'madvise' | 'never',
): boolean {
  if (vma.file !== null || vma.hugepage === 'nohugepage' || thpMode === 'never') return false;
  if (thpMode === 'madvise' && vma.hugepage !== 'hugepage') return false;
  const haddr = va - (va % HPAGE_PMD_SIZE);
  return haddr >= vma.start && haddr + HPAGE_PMD_SIZE <= vma.end;
}

/** do_huge_pmd_anonymous_page: one order-9 folio mapped by a PMD. */
export function do_huge_pmd_anonymous_page(
  m: Model,
  mm: Mm,
  vma: Vma,
  va: number,
  write: boolean,
  ev: FaultEvidence | null,
): void {
  const haddr = va - (va % HPAGE_PMD_SIZE);
  const f = alloc_anon_folio(m, vma, ev, 9);
  f.entireMapcount = 1;
  f.rmap.set(`${mm.id}:${haddr}:pmd`, { mm: mm.id, va: haddr });
  add_mm_counter(mm, MM_ANONPAGES, HPAGE_PMD_NR);
  const confidence: Confidence = f.pfnConfidence === 'observed' ? 'observed' : 'inferred';
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    m.set_pte_at(
      mm,
      haddr + i * PAGE_SIZE,
      presentPte(f, { write: vma.write, dirty: write, pmd: true, index: i, confidence }),
    );
  }
}

/** __split_huge_pmd: the PMD becomes 512 PTEs mapping the same folio (mm/huge_memory.c). */
export function __split_huge_pmd(m: Model, mm: Mm, va: number): void {
  const haddr = va - (va % HPAGE_PMD_SIZE);
  const head = m.pte(mm, haddr);
  if (!head?.pmd || !head.folio) return;
  const f = head.folio;
  m.mmu_notifier_invalidate(mm, haddr, haddr + HPAGE_PMD_SIZE, MMU_NOTIFY.CLEAR);
  m.touchFolio(f);
  f.entireMapcount--;
  f.rmap.delete(`${mm.id}:${haddr}:pmd`);
  // __split_huge_pmd_locked: each new PTE holds its own reference (folio_ref_add(nr - 1)).
  if (!f.zero) f.refcount += HPAGE_PMD_NR - 1;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const a = haddr + i * PAGE_SIZE;
    const p = m.pte(mm, a);
    if (!p?.pmd) continue;
    m.set_pte_at(mm, a, { ...p, pmd: false });
    m.rmap_add(f, mm, a);
  }
}

/** copy_huge_pmd: both sides map the THP read-only (or the child copies a pinned one). */
export function copy_huge_pmd(
  m: Model,
  dst: Mm,
  src: Mm,
  vma: Vma,
  haddr: number,
  head: Pte,
): void {
  const f = head.folio!;
  m.folio_get(f);
  m.touchFolio(f);
  f.entireMapcount++;
  f.anonExclusive = false;
  f.rmap.set(`${dst.id}:${haddr}:pmd`, { mm: dst.id, va: haddr });
  add_mm_counter(dst, MM_ANONPAGES, HPAGE_PMD_NR);
  const cow = is_cow_mapping(vma);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const a = haddr + i * PAGE_SIZE;
    const p = m.pte(src, a);
    if (!p) continue;
    if (cow && p.write) m.modify_pte(src, a, { write: false });
    m.set_pte_at(dst, a, {
      ...p,
      write: cow ? false : p.write,
      accessed: false,
      confidence: 'inferred',
    });
  }
}

export function __split_huge_pmd_if_partial(
  m: Model,
  mm: Mm,
  va: number,
  start: number,
  end: number,
): void {
  const haddr = va - (va % HPAGE_PMD_SIZE);
  if (haddr < start || haddr + HPAGE_PMD_SIZE > end) __split_huge_pmd(m, mm, va);
}

/**
 * split_huge_page (mm/huge_memory.c __split_huge_page): a large folio becomes order-0 folios, one per
 * page, each keeping its page's mappings and references. Mapped by PMD, it is PTE-mapped first.
 */
export function split_huge_page(m: Model, f: Folio): Folio[] {
  for (const { mm: mmId, va } of [...f.rmap.values()]) {
    const mm = m.mms[mmId];
    if (m.pte(mm, va)?.pmd) __split_huge_pmd(m, mm, va);
  }
  const nr = 1 << f.order;
  const parts: Folio[] = [];
  m.touchFolio(f);
  if (f.pfn !== null && m.byPfn.get(f.pfn) === f) m.byPfn.delete(f.pfn);
  for (let i = 0; i < nr; i++) {
    const p = m.newFolio({
      anon: f.anon,
      shmem: f.shmem,
      order: 0,
      anonExclusive: f.anonExclusive,
      lru: f.lru,
      dirty: f.dirty,
      preTrace: f.preTrace,
    });
    if (f.pfn !== null) m.setPfn(p, f.pfn + i, f.pfnConfidence);
    parts.push(p);
  }
  for (const { mm: mmId, va } of [...f.rmap.values()]) {
    const mm = m.mms[mmId];
    const pte = m.pte(mm, va)!;
    const p = parts[pte.index];
    m.rmap_add(p, mm, va);
    p.refcount++;
    m.set_pte_at(mm, va, { ...pte, folio: p, index: 0 });
  }
  f.rmap.clear();
  f.mapcount = 0;
  f.refcount = 0;
  m.freeFolio(f);
  // The freed head must not shadow the parts' PFNs.
  for (const p of parts) if (p.pfn !== null) m.claimPfn(p.pfn, p);
  return parts;
}
