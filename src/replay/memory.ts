// mm/memory.c: faults, fork's page-table copy and zapping, as the kernel does them.
import { fmtPfn, MMU_NOTIFY, presentPte, vaOf, type Model } from './model.js';
import { free_swap_and_cache, swap_duplicate } from './swap.js';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_SIZE,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  type Confidence,
  type Folio,
  type Mm,
  type Pte,
  type Vma,
} from './types.js';

/** What the trace showed about one fault: its page allocations (mm_page_alloc in the same task). */
export interface FaultEvidence {
  allocs: { pfn: bigint; order: number }[];
  /** True when the trace carries mm_page_alloc at all (else allocations are inferred). */
  allocsTraced: boolean;
  /** Page-table pages the kernel allocated inside the fault (GFP_PGTABLE_USER allocations). */
  pgtables: number;
  /** The trace shows the fault map a new anonymous page (folio_add_new_anon_rmap), allocation untold. */
  newAnon?: boolean;
}

export function mm_counter(f: Folio): number {
  return f.anon ? MM_ANONPAGES : f.shmem ? MM_SHMEMPAGES : MM_FILEPAGES;
}

export function add_mm_counter(mm: Mm, member: number, n: number): void {
  mm.rss[member] += n;
}

/** Starts a bulk page-table operation whose counter changes the kernel reports per batch. */
export function rss_batch_begin(mm: Mm): void {
  for (let i = 0; i < 4; i++) mm.rssFlushed[i] = mm.rss[i];
}

/** add_mm_rss_vec at the end of one page table (copy_pte_range, zap_pte_range): each changed
 *  counter emits one rss_stat, which the replay expects in this order. */
export function rss_batch_point(mm: Mm): void {
  for (let i = 0; i < 4; i++) {
    if (mm.rss[i] !== mm.rssFlushed[i]) {
      mm.rssTrajectory[i].push(mm.rss[i]);
      mm.rssFlushed[i] = mm.rss[i];
    }
  }
}

/** [start, end) cut at page-table (PMD) boundaries: the kernel's batches. */
export function pmdChunks(start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = start; s < end;) {
    const e = Math.min(end, s - (s % HPAGE_PMD_SIZE) + HPAGE_PMD_SIZE);
    out.push([s, e]);
    s = e;
  }
  return out;
}

function is_cow_mapping(vma: Vma): boolean {
  return !vma.shared && vma.write;
}

/** Allocates the folio a fault needs, taking its PFN from the trace when it shows one. */
export function alloc_folio(
  m: Model,
  ev: FaultEvidence | null,
  order: number,
  anon: boolean,
): Folio {
  // The first allocation of that order, taken out (a loop and a shift: no closure, no array).
  let a: FaultEvidence['allocs'][number] | null = null;
  if (ev) {
    const allocs = ev.allocs;
    for (let i = 0; i < allocs.length; i++) {
      if (allocs[i].order !== order) continue;
      a = allocs[i];
      for (let j = i + 1; j < allocs.length; j++) allocs[j - 1] = allocs[j];
      allocs.length--;
      break;
    }
  }
  const f = m.newFolio({ anon, order, refcount: 1, pfnConfidence: a ? 'observed' : 'unknown' });
  if (a) m.setPfn(f, a.pfn, 'observed');
  return f;
}

/** The page cache: one folio per (file, page index), created on first use. */
export class PageCache {
  private files = new Map<string, Map<number, Folio>>();
  get(m: Model, file: string, index: number, shmem: boolean, ev: FaultEvidence | null): Folio {
    let pages = this.files.get(file);
    if (!pages) this.files.set(file, (pages = new Map()));
    let f = pages.get(index);
    if (!f || f.freed) {
      // A page already cached before the fault shows no allocation; one read in now does.
      const a = ev?.allocs.shift();
      f = m.newFolio({
        anon: false,
        shmem,
        refcount: 1,
        pfnConfidence: a ? 'observed' : 'unknown',
        preTrace: !a,
      });
      if (a) m.setPfn(f, a.pfn, 'observed');
      pages.set(index, f);
    }
    return f;
  }

  /**
   * The last VMA of a file identity went: no fault can look its pages up again. Those held by the
   * cache alone are forgotten (their state holds to the end of the trace); one still mapped,
   * pinned or in the swap cache stays the model's until that ends.
   */
  drop(m: Model, file: string): void {
    const pages = this.files.get(file);
    if (!pages) return;
    for (const [index, f] of pages) {
      if (
        f.freed ||
        (f.refcount === 1 &&
          f.mapcount + f.entireMapcount === 0 &&
          f.pincount === 0 &&
          !f.locked &&
          f.swapSlot === null)
      ) {
        if (!f.freed) m.forgetFolio(f);
        pages.delete(index);
      }
    }
    if (!pages.size) this.files.delete(file);
  }

  /** The pages cached for a file. */
  pages(file: string): Iterable<Folio> {
    return this.files.get(file)?.values() ?? [];
  }

  /** Pages cached, all files. */
  get size(): number {
    let n = 0;
    for (const pages of this.files.values()) n += pages.size;
    return n;
  }
}

// --- faults -----------------------------------------------------------------------------------

/** do_anonymous_page: a read maps the shared zero page read-only; a write allocates a zeroed page. */
export function do_anonymous_page(
  m: Model,
  mm: Mm,
  vma: Vma,
  va: number,
  write: boolean,
  ev: FaultEvidence | null,
): void {
  if (!write && !(ev && ev.allocs.length)) {
    m.set_pte_at(
      mm,
      va,
      presentPte(m.zeroFolio, { write: false, dirty: false, confidence: 'inferred' }),
    );
    return;
  }
  if (vma.anonVma === null) vma.anonVma = m.anonVmaId();
  const f = alloc_folio(m, ev, 0, true);
  f.anonExclusive = true;
  m.rmap_add(f, mm, va);
  add_mm_counter(mm, MM_ANONPAGES, 1);
  m.set_pte_at(
    mm,
    va,
    presentPte(f, {
      write: vma.write,
      dirty: write,
      confidence: f.pfnConfidence === 'observed' ? 'observed' : 'inferred',
    }),
  );
}

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
  if (vma.anonVma === null) vma.anonVma = m.anonVmaId();
  const haddr = va - (va % HPAGE_PMD_SIZE);
  const f = alloc_folio(m, ev, 9, true);
  f.anonExclusive = true;
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

/** do_fault: a file-backed fault (read with fault-around, private write copy, shared write). */
export function do_fault(
  m: Model,
  cache: PageCache,
  mm: Mm,
  vma: Vma,
  va: number,
  write: boolean,
  ev: FaultEvidence | null,
): void {
  const shmem = vma.file!.startsWith('shmem:');
  const index = (va - vma.start) / PAGE_SIZE + vma.pgoff;
  if (write && !vma.shared) {
    // do_cow_fault: a private copy of the file page, never the page itself.
    cache.get(m, vma.file!, index, shmem, null);
    if (vma.anonVma === null) vma.anonVma = m.anonVmaId();
    const f = alloc_folio(m, ev, 0, true);
    f.anonExclusive = true;
    m.rmap_add(f, mm, va);
    add_mm_counter(mm, MM_ANONPAGES, 1);
    m.set_pte_at(
      mm,
      va,
      presentPte(f, {
        write: true,
        dirty: true,
        confidence: f.pfnConfidence === 'observed' ? 'observed' : 'inferred',
      }),
    );
    return;
  }
  // do_read_fault maps the pages already cached around the address (fault_around_bytes = 64K);
  // which are cached is not in the trace, so the neighbours are an inference.
  const around = write ? [va] : faultAroundWindow(vma, va);
  for (const a of around) {
    if (a !== va && m.pte(mm, a)) continue;
    const idx = (a - vma.start) / PAGE_SIZE + vma.pgoff;
    const f = cache.get(m, vma.file!, idx, shmem, a === va ? ev : null);
    m.folio_get(f);
    m.rmap_add(f, mm, a);
    add_mm_counter(mm, shmem ? MM_SHMEMPAGES : MM_FILEPAGES, 1);
    m.set_pte_at(
      mm,
      a,
      presentPte(f, {
        write: write && vma.shared,
        dirty: write,
        confidence: a === va ? 'inferred' : 'unknown',
      }),
    );
  }
}

/**
 * A file page the kernel had mapped read-only where the model saw nothing (a fault-around
 * neighbour the trace does not show): the PTE a protection fault proves. Not counted again: the
 * counts adopted from rss_stat around that fault-around already hold it.
 */
export function map_unseen_file_page(
  m: Model,
  cache: PageCache,
  mm: Mm,
  vma: Vma,
  va: number,
): Pte {
  const shmem = vma.file!.startsWith('shmem:');
  const f = cache.get(m, vma.file!, (va - vma.start) / PAGE_SIZE + vma.pgoff, shmem, null);
  m.folio_get(f);
  m.rmap_add(f, mm, va);
  m.set_pte_at(mm, va, presentPte(f, { write: false, confidence: 'unknown' }));
  return m.pte(mm, va)!;
}

/**
 * Forgets a fault-around neighbour the model guessed mapped and a not-present fault proved was
 * not: the kernel never mapped it, and the counts adopted from rss_stat since never held it.
 */
export function forget_guessed_pte(m: Model, mm: Mm, va: number): void {
  const f = m.pte(mm, va)!.folio!;
  m.rmap_remove(f, mm, va);
  m.set_pte_at(mm, va, null);
  m.folio_put(f);
}

function faultAroundWindow(vma: Vma, va: number): number[] {
  const win = 16 * PAGE_SIZE;
  const s = Math.max(vma.start, va - (va % win));
  const e = Math.min(vma.end, s + win);
  const out = [va];
  for (let a = s; a < e; a += PAGE_SIZE) if (a !== va) out.push(a);
  return out;
}

/** do_wp_page: write to a present read-only PTE: reuse the page, or copy it (wp_page_copy). */
export function do_wp_page(
  m: Model,
  mm: Mm,
  vma: Vma,
  va: number,
  pte: Pte,
  ev: FaultEvidence | null,
): 'reuse' | 'copy' | 'shared' | 'sigsegv' {
  if (!vma.write) return 'sigsegv';
  const f = pte.folio!;
  if (vma.shared && !f.anon) {
    // wp_page_shared
    m.set_pte_at(mm, va, { ...pte, write: true, dirty: true });
    return 'shared';
  }
  if (pte.pmd) __split_huge_pmd(m, mm, va);
  // wp_can_reuse_anon_folio (6.12/6.18): an exclusive anon page, or one nobody else holds.
  let reuse = f.anon && !f.zero && !f.ksm && (f.anonExclusive || f.refcount === 1);
  // The trace settles it where it shows the copy's allocation (or its absence).
  if (ev?.allocsTraced) {
    const copied = ev.newAnon === true || ev.allocs.some((a) => a.order === 0);
    // Where the page or its VMA predates the trace, its references are not all known to the model
    // and the trace simply decides; elsewhere a contradiction is the model's to explain.
    if (copied === reuse && !(f.preTrace || mm.preTrace || vma.preTrace)) {
      m.sink.violation(
        'wp_decision',
        `do_wp_page at 0x${va.toString(16)}: model says ${reuse ? 'reuse' : 'copy'}, trace shows ${copied ? 'a copy' : 'no allocation'} (folio ${f.id} refcount ${f.refcount})`,
        m.nearLoss ? 'lost-events' : 'model',
      );
    }
    reuse = !copied;
  }
  if (reuse) {
    m.touchFolio(f);
    f.anonExclusive = true;
    m.set_pte_at(mm, va, {
      ...m.pte(mm, va)!,
      write: true,
      dirty: true,
      accessed: true,
      confidence: pte.confidence,
    });
    return 'reuse';
  }
  wp_page_copy(m, mm, vma, va, ev);
  return 'copy';
}

/** wp_page_copy: a new anonymous page replaces the shared (or zero) one at va. */
export function wp_page_copy(
  m: Model,
  mm: Mm,
  vma: Vma,
  va: number,
  ev: FaultEvidence | null,
): Folio {
  const old = m.pte(mm, va)!;
  m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.CLEAR);
  if (vma.anonVma === null) vma.anonVma = m.anonVmaId();
  const nf = alloc_folio(m, ev, 0, true);
  nf.anonExclusive = true;
  const of = old.folio!;
  if (!of.zero) {
    m.rmap_remove(of, mm, va);
    add_mm_counter(mm, mm_counter(of), -1);
  }
  m.rmap_add(nf, mm, va);
  add_mm_counter(mm, MM_ANONPAGES, 1);
  m.set_pte_at(
    mm,
    va,
    presentPte(nf, {
      write: true,
      dirty: true,
      confidence: nf.pfnConfidence === 'observed' ? 'observed' : 'inferred',
    }),
  );
  if (!of.zero) m.folio_put(of);
  return nf;
}

// --- fork ----------------------------------------------------------------------------------------

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

/** copy_huge_pmd: both sides map the THP read-only (or the child copies a pinned one). */
function copy_huge_pmd(m: Model, dst: Mm, src: Mm, vma: Vma, haddr: number, head: Pte): void {
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

// --- zap -----------------------------------------------------------------------------------------

/**
 * zap_pte_range over [start, end) of one VMA (munmap, MADV_DONTNEED, exit): every entry goes, with
 * its mapping, its reference and its RSS count. A PMD that the range only partly covers is split
 * first (zap_huge_pmd / __split_huge_pmd).
 */
export function zap_pte_range(
  m: Model,
  mm: Mm,
  start: number,
  end: number,
  event: number = MMU_NOTIFY.CLEAR,
): number {
  m.mmu_notifier_invalidate(mm, start, end, event);
  rss_batch_begin(mm);
  let n = 0;
  for (const [s, e] of pmdChunks(start, end)) {
    n += zap_chunk(m, mm, s, e);
    rss_batch_point(mm);
  }
  return n;
}

function zap_chunk(m: Model, mm: Mm, start: number, end: number): number {
  let n = 0;
  const s0 = m.pte(mm, start);
  if (s0?.pmd) __split_huge_pmd_if_partial(m, mm, start, start, end);
  const e0 = m.pte(mm, end - PAGE_SIZE);
  if (e0?.pmd) __split_huge_pmd_if_partial(m, mm, end - PAGE_SIZE, start, end);
  for (const vpn of m.ptesIn(mm, start, end)) {
    const va = vaOf(vpn);
    const pte = mm.ptes.get(vpn)!;
    const f = pte.folio;
    if (pte.pmd) {
      if (pte.index === 0 && f) {
        m.touchFolio(f);
        f.entireMapcount--;
        f.rmap.delete(`${mm.id}:${va}:pmd`);
        add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PMD_NR);
        m.folio_put(f);
      }
      m.set_pte_at(mm, va, null);
      n++;
      continue;
    }
    if (f && !f.zero) {
      // zap_present_ptes / zap_nonpresent_ptes: a migration entry holds neither mapping nor
      // reference; device-exclusive (6.12) holds a reference but no mapping.
      add_mm_counter(mm, pte.kind === 'swap' ? MM_SWAPENTS : mm_counter(f), -1);
      if (pte.kind === 'present' || pte.kind === 'device_private') m.rmap_remove(f, mm, va);
      if (pte.kind === 'present' && pte.dirty && !f.anon) f.dirty = true;
      m.set_pte_at(mm, va, null);
      if (pte.kind !== 'migration') m.folio_put(f);
    } else {
      if (pte.kind === 'swap') {
        add_mm_counter(mm, MM_SWAPENTS, -1);
        free_swap_and_cache(m, pte);
      }
      m.set_pte_at(mm, va, null);
    }
    n++;
  }
  return n;
}

function __split_huge_pmd_if_partial(
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
    if (f.pfn !== null) m.setPfn(p, f.pfn + BigInt(i), f.pfnConfidence);
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

export function describePte(p: Pte | undefined): string {
  if (!p) return 'none';
  return `${p.kind}${p.folio ? ` folio ${p.folio.id} pfn ${fmtPfn(p.folio)}` : ''}${p.write ? ' W' : ''}`;
}
