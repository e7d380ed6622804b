// mm/memory.c: faults and zapping, as the kernel does them (fork's copy: copy_page_range.ts).
import { fmtPfn, vaOf, type Model } from './model.js';
import { presentPte } from './pte.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { free_swap_and_cache } from './swap.js';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_SIZE,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  type Folio,
  type Mm,
  type Pte,
  type Vma,
} from './types.js';
import { PageCache, faultAroundWindow } from './filemap.js';
import { __split_huge_pmd, __split_huge_pmd_if_partial } from './huge_memory.js';

/** What the trace showed about one fault: its page allocations (mm_page_alloc in the same task). */
export interface FaultEvidence {
  allocs: { pfn: number; order: number }[];
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

export function is_cow_mapping(vma: Vma): boolean {
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
      allocs.pop();
      break;
    }
  }
  const f = m.newFolio({ anon, order, refcount: 1, pfnConfidence: a ? 'observed' : 'unknown' });
  if (a) m.setPfn(f, a.pfn, 'observed');
  return f;
}

/**
 * alloc_anon_folio (6.12 mm/memory.c, after vmf_anon_prepare's anon_vma_prepare): a new anonymous
 * folio of that order, the faulting mm's alone.
 */
export function alloc_anon_folio(
  m: Model,
  vma: Vma,
  ev: FaultEvidence | null,
  order: number,
): Folio {
  if (vma.anonVma === null) vma.anonVma = m.anonVmaId();
  const f = alloc_folio(m, ev, order, true);
  f.anonExclusive = true;
  return f;
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
  map_new_anon_page(m, mm, vma, va, ev, vma.write, write);
}

/**
 * A new anonymous page mapped at va, as do_anonymous_page does and do_cow_fault's set_pte_range
 * (folio_add_new_anon_rmap, the counter, set_ptes).
 */
function map_new_anon_page(
  m: Model,
  mm: Mm,
  vma: Vma,
  va: number,
  ev: FaultEvidence | null,
  write: boolean,
  dirty: boolean,
): void {
  const f = alloc_anon_folio(m, vma, ev, 0);
  m.rmap_add(f, mm, va);
  add_mm_counter(mm, MM_ANONPAGES, 1);
  m.set_pte_at(
    mm,
    va,
    presentPte(f, {
      write,
      dirty,
      confidence: f.pfnConfidence === 'observed' ? 'observed' : 'inferred',
    }),
  );
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
    map_new_anon_page(m, mm, vma, va, ev, true, true);
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
  const nf = alloc_anon_folio(m, vma, ev, 0);
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

export function describePte(p: Pte | undefined): string {
  if (!p) return 'none';
  return `${p.kind}${p.folio ? ` folio ${p.folio.id} pfn ${fmtPfn(p.folio)}` : ''}${p.write ? ' W' : ''}`;
}
