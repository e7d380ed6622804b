// mm/memory.c copy_page_range: fork's copy of a VMA's page tables (kernel/fork.c dup_mmap calls it).
import { vaOf, type Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { MM_ANONPAGES, MM_SWAPENTS, type Mm, type Pte, type Vma } from './types.js';
import {
  add_mm_counter,
  is_cow_mapping,
  mm_counter,
  pmdChunks,
  rss_batch_point,
} from './memory.js';
import { copy_huge_pmd } from './huge_memory.js';
import { swap_duplicate } from './swap.js';

/** vma_needs_copy: fork copies page tables only where faults could not rebuild them. */
function vma_needs_copy(vma: Vma): boolean {
  // A VMA the trace never showed created may hold anonymous pages the model never saw.
  return vma.anonVma !== null || (vma.preTrace && vma.file === null);
}

/**
 * copy_page_range for one VMA (mm/memory.c copy_pte_range / copy_present_pte): anonymous pages are
 * shared and write-protected on both sides in a COW mapping, unless pinned, in which case the child
 * gets its own copy at once (copy_present_page). Device-exclusive entries are restored in the
 * parent first (try_restore_exclusive_pte); if that page is locked, fork fails (-EBUSY -> -ENOMEM).
 */
export function copy_page_range(
  m: Model,
  dst: Mm,
  src: Mm,
  vma: Vma,
  restoreExclusive: (mm: Mm, va: number, pte: Pte) => boolean,
): boolean {
  if (!vma_needs_copy(vma)) return true;
  // A COW mapping is write-protected in the parent: MMU_NOTIFY_PROTECTION_PAGE over the VMA.
  if (is_cow_mapping(vma))
    m.mmu_notifier_invalidate(src, vma.start, vma.end, MMU_NOTIFY.PROTECTION_PAGE);
  for (const [s, e] of pmdChunks(vma.start, vma.end)) {
    // copy_pmd_range: the child gets a table wherever the parent has one, entries or not.
    if (src.pgtables[0].has(Math.floor(s / m.geo.spans[0])))
      m.pgtableAllocs += m.geo.pgtable_alloc(dst, s);
    if (!copy_pte_range(m, dst, src, vma, s, e, restoreExclusive)) return false;
    rss_batch_point(dst);
  }
  return true;
}

function copy_pte_range(
  m: Model,
  dst: Mm,
  src: Mm,
  vma: Vma,
  start: number,
  end: number,
  restoreExclusive: (mm: Mm, va: number, pte: Pte) => boolean,
): boolean {
  const cow = is_cow_mapping(vma);
  for (const vpn of m.ptesIn(src, start, end)) {
    const va = vaOf(vpn);
    let pte = src.ptes.get(vpn)!;
    if (pte.kind === 'device_exclusive') {
      if (!restoreExclusive(src, va, pte)) return false;
      pte = src.ptes.get(vpn)!;
    }
    if (pte.kind === 'swap' || pte.kind === 'migration' || pte.kind === 'device_private') {
      // copy_nonpresent_pte: the entry is copied; a writable migration entry turns read-only for COW,
      // an exclusive swap entry shared (swap_duplicate holds the slot for the child).
      const w = pte.entryWrite && !cow;
      if (cow && pte.entryWrite) m.modify_pte(src, va, { entryWrite: false });
      if (pte.folio) {
        m.folio_get(pte.folio);
        m.rmap_add(pte.folio, dst, va);
      }
      if (pte.kind === 'swap') swap_duplicate(m, pte);
      add_mm_counter(
        dst,
        pte.kind === 'swap' ? MM_SWAPENTS : pte.folio ? mm_counter(pte.folio) : MM_ANONPAGES,
        1,
      );
      m.set_pte_at(dst, va, { ...pte, entryWrite: w, preTrace: pte.preTrace });
      continue;
    }
    if (pte.kind !== 'present' || !pte.folio) continue;
    const f = pte.folio;
    // A VMA seen first at a fault is a guess that may span the binary's text and data; the text's
    // file pages were copied only if the kernel's real VMA had an anon_vma, which the trace cannot
    // tell. Leave them to fault in the child (the rss_stat that follows is not checkable anyway).
    if (vma.preTrace && !f.anon) continue;
    if (pte.pmd) {
      if (pte.index !== 0) continue;
      copy_huge_pmd(m, dst, src, vma, va, pte);
      continue;
    }
    if (f.anon && f.pincount > 0) {
      // copy_present_page: a pinned page stays with the parent; the child gets a copy now.
      const nf = m.newFolio({
        anon: true,
        refcount: 1,
        anonExclusive: true,
        pfnConfidence: 'unknown',
      });
      m.rmap_add(nf, dst, va);
      add_mm_counter(dst, MM_ANONPAGES, 1);
      m.set_pte_at(
        dst,
        va,
        presentPte(nf, { write: pte.write, dirty: true, confidence: 'inferred' }),
      );
      continue;
    }
    if (!f.zero) {
      m.folio_get(f);
      m.rmap_add(f, dst, va);
      if (f.anon) {
        m.touchFolio(f);
        f.anonExclusive = false;
      }
      add_mm_counter(dst, mm_counter(f), 1);
    }
    let write = pte.write;
    if (cow && write) {
      m.modify_pte(src, va, { write: false });
      write = false;
    }
    m.set_pte_at(dst, va, {
      ...pte,
      write,
      accessed: false,
      uffdWp: false,
      confidence: pte.confidence === 'observed' ? 'inferred' : pte.confidence,
    });
  }
  return true;
}
