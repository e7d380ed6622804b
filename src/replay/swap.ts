// Reclaim to swap and swap-in: mm/vmscan.c shrink_folio_list (add_to_swap, try_to_unmap), mm/rmap.c
// try_to_unmap_one, mm/swap_state.c, mm/swapfile.c swap_free / free_swap_and_cache, mm/memory.c
// do_swap_page.
//
// A swap entry names a slot; the slot counts the entries that refer to it (swap_map) and, while the
// folio is in the swap cache, leads back to it: a fault on the entry then maps that same folio (the
// same PFN, no allocation), else the page is read into a new one.
import type { KernelSemantics } from './kernel.js';
import {
  alloc_folio,
  add_mm_counter,
  rss_batch_begin,
  rss_batch_point,
  type FaultEvidence,
} from './memory.js';
import type { Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import {
  MM_ANONPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  type Folio,
  type Mm,
  type Pte,
  type Vma,
} from './types.js';

export interface SwapSlot {
  id: number;
  /** swap_map count: entries (PTEs) that hold the slot. */
  count: number;
  /** The folio while it is in the swap cache (SWAP_HAS_CACHE), else null. */
  folio: Folio | null;
}

/** add_to_swap: a slot for the folio, which enters the swap cache (the cache holds a reference). */
function add_to_swap(m: Model, f: Folio): SwapSlot {
  const slot: SwapSlot = { id: m.nextSwapSlot++, count: 0, folio: f };
  m.swapSlots.set(slot.id, slot);
  m.touchFolio(f);
  f.swapSlot = slot.id;
  f.refcount++;
  return slot;
}

/**
 * try_to_unmap_one for an anonymous folio with a swap slot: every PTE that maps it becomes a swap
 * entry (exclusive if the page was), one rss_stat pair per page (MM_ANONPAGES down, MM_SWAPENTS up).
 */
function try_to_unmap(m: Model, f: Folio, slot: SwapSlot): void {
  const exclusive = f.anonExclusive;
  for (const { mm: id, va } of [...f.rmap.values()]) {
    const mm = m.mms[id];
    const pte = m.pte(mm, va)!;
    m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.CLEAR);
    m.rmap_remove(f, mm, va);
    m.set_pte_at(mm, va, {
      ...pte,
      kind: 'swap',
      folio: null,
      write: false,
      entryWrite: exclusive,
      swapSlot: slot.id,
      confidence: 'inferred',
    });
    slot.count++;
    add_mm_counter(mm, MM_ANONPAGES, -1);
    add_mm_counter(mm, MM_SWAPENTS, 1);
    rss_batch_point(mm);
    m.folio_put(f);
  }
  // A swap-cache folio is never PageAnonExclusive; the entries carry the bit instead.
  f.anonExclusive = false;
}

/**
 * MADV_PAGEOUT (mm/madvise.c madvise_cold_or_pageout_pte_range, then reclaim_pages): each small
 * anonymous folio in the range mapped here only is reclaimed to swap, in address order. Large
 * folios, shared or pinned pages stay.
 */
export function madvise_pageout(m: Model, mm: Mm, start: number, end: number): void {
  rss_batch_begin(mm);
  for (const vpn of m.ptesIn(mm, start, end)) {
    const pte = mm.ptes.get(vpn)!;
    const f = pte.folio;
    if (
      pte.kind !== 'present' ||
      !f ||
      !f.anon ||
      f.zero ||
      pte.pmd ||
      f.order > 0 ||
      f.mapcount !== 1 ||
      f.pincount > 0
    )
      continue;
    // A folio still in the swap cache (swapped in, not written since) keeps its slot.
    const cached = f.swapSlot === null ? undefined : m.swapSlots.get(f.swapSlot);
    try_to_unmap(m, f, cached ?? add_to_swap(m, f));
  }
}

/** The folio leaves the swap cache (__remove_mapping after writeback, or folio_free_swap). */
export function delete_from_swap_cache(m: Model, f: Folio): void {
  const slot = f.swapSlot === null ? undefined : m.swapSlots.get(f.swapSlot);
  m.touchFolio(f);
  f.swapSlot = null;
  if (slot) {
    slot.folio = null;
    if (slot.count === 0) free_slot(m, slot);
  }
  m.folio_put(f);
}

function free_slot(m: Model, slot: SwapSlot): void {
  m.swapSlots.delete(slot.id);
}

/** swap_duplicate: fork copies a swap entry (copy_nonpresent_pte). */
export function swap_duplicate(m: Model, pte: Pte): void {
  const slot = pte.swapSlot === undefined ? undefined : m.swapSlots.get(pte.swapSlot);
  if (slot) slot.count++;
}

/**
 * free_swap_and_cache: a zapped swap entry drops its slot count; at zero the swap cache's folio,
 * if it is not mapped, is reclaimed with it (__try_to_reclaim_swap, TTRS_UNMAPPED).
 */
export function free_swap_and_cache(m: Model, pte: Pte): void {
  const slot = pte.swapSlot === undefined ? undefined : m.swapSlots.get(pte.swapSlot);
  if (!slot) return;
  slot.count--;
  if (slot.count > 0) return;
  if (slot.folio && slot.folio.mapcount === 0) delete_from_swap_cache(m, slot.folio);
  else if (!slot.folio) free_slot(m, slot);
}

/**
 * do_swap_page on a swap entry: the swap cache's folio if the slot still has one (no allocation),
 * else a new page read in (swapin_readahead adds it to the cache). Exclusive entries map
 * exclusive, and writable on a write fault (and from 6.12 on a read fault too, in a writable VMA).
 */
export function do_swap_page(
  m: Model,
  k: KernelSemantics,
  mm: Mm,
  vma: Vma,
  va: number,
  pte: Pte,
  write: boolean,
  ev: FaultEvidence | null,
): void {
  const slot = pte.swapSlot === undefined ? undefined : m.swapSlots.get(pte.swapSlot);
  let f = slot?.folio ?? null;
  if (!f) {
    f = alloc_folio(m, ev, 0, true);
    if (slot) {
      slot.folio = f;
      f.swapSlot = slot.id;
      f.refcount++;
    }
  }
  m.folio_get(f);
  if (slot) {
    slot.count--;
    // should_try_to_free_swap: a write fault by the folio's only user drops the cache copy.
    if (write && f.refcount === 2) delete_from_swap_cache(m, f);
  }
  add_mm_counter(mm, MM_ANONPAGES, 1);
  add_mm_counter(mm, MM_SWAPENTS, -1);
  const exclusive = pte.entryWrite || f.refcount === 1;
  const writable = exclusive && vma.write && (write || k.swapinMapsWritableOnRead);
  m.touchFolio(f);
  f.anonExclusive = exclusive;
  m.rmap_add(f, mm, va);
  m.set_pte_at(
    mm,
    va,
    presentPte(f, {
      write: writable,
      dirty: write,
      softDirty: pte.softDirty,
      uffdWp: pte.uffdWp,
      confidence: f.pfnConfidence === 'observed' ? 'observed' : 'inferred',
    }),
  );
}
