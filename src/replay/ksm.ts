// mm/ksm.c: ksmd merging identical anonymous pages into one write-protected KSM page.
import type { Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { PAGE_SIZE, type Folio, type Mm } from './types.js';

/**
 * try_to_merge_one_page with no KSM page yet: write_protect_page makes every PTE of the page
 * read-only and clean and shares it (PageAnonExclusive goes); the page becomes the KSM page.
 */
export function write_protect_page(m: Model, f: Folio): void {
  for (const { mm: id, va } of f.rmap.values()) {
    const mm = m.mms[id];
    const pte = m.pte(mm, va);
    if (pte?.kind !== 'present') continue;
    m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.CLEAR);
    if (pte.dirty) f.dirty = true;
    m.set_pte_at(mm, va, { ...pte, write: false, dirty: false });
  }
  m.touchFolio(f);
  f.anonExclusive = false;
  f.ksm = true;
}

/** replace_page: the PTE at va maps the KSM page instead, read-only; the old page loses it. */
export function replace_page(m: Model, mm: Mm, va: number, kpage: Folio): void {
  const pte = m.pte(mm, va)!;
  const old = pte.folio!;
  m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.CLEAR);
  m.rmap_remove(old, mm, va);
  m.folio_get(kpage);
  m.rmap_add(kpage, mm, va);
  m.set_pte_at(
    mm,
    va,
    presentPte(kpage, {
      write: false,
      dirty: false,
      softDirty: pte.softDirty,
      confidence: kpage.pfnConfidence === 'observed' ? 'observed' : 'inferred',
    }),
  );
  m.folio_put(old);
}
