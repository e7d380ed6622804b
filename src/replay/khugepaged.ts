// mm/khugepaged.c collapse_huge_page: 512 small anonymous pages become one PMD-mapped THP, whether
// khugepaged found them or MADV_COLLAPSE (6.1+) asked for them.
import { add_mm_counter } from './memory.js';
import type { Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_SIZE,
  MM_ANONPAGES,
  PAGE_SIZE,
  type Mm,
  type Vma,
} from './types.js';

/**
 * collapse_huge_page at haddr: the old PTEs go (pmdp_collapse_flush, MMU_NOTIFY_CLEAR), each small
 * page is copied and freed (__collapse_huge_page_copy_succeeded), the PTE table is deposited and a
 * PMD maps the new folio. Empty and zero-page PTEs become mapped pages: MM_ANONPAGES grows by them.
 */
export function collapse_huge_page(
  m: Model,
  mm: Mm,
  vma: Vma,
  haddr: number,
  pfn: number | null,
): void {
  m.mmu_notifier_invalidate(mm, haddr, haddr + HPAGE_PMD_SIZE, MMU_NOTIFY.CLEAR);
  const f = m.newFolio({ anon: true, order: 9, refcount: 1, anonExclusive: true });
  if (pfn !== null) m.setPfn(f, pfn, 'observed');
  let filled = 0;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const va = haddr + i * PAGE_SIZE;
    const old = m.pte(mm, va);
    if (!old || old.kind !== 'present' || !old.folio || old.folio.zero) filled++;
    else {
      m.rmap_remove(old.folio, mm, va);
      m.folio_put(old.folio);
    }
    m.set_pte_at(
      mm,
      va,
      presentPte(f, {
        write: vma.write,
        dirty: true,
        pmd: true,
        index: i,
        confidence: f.pfnConfidence === 'observed' ? 'observed' : 'inferred',
      }),
    );
  }
  m.touchFolio(f);
  f.entireMapcount = 1;
  f.rmap.set(`${mm.id}:${haddr}:pmd`, { mm: mm.id, va: haddr });
  add_mm_counter(mm, MM_ANONPAGES, filled);
}
