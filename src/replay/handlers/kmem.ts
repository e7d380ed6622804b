// The page allocator's events (kmem:mm_page_alloc, mm_page_free) and LRU insertion: whose fault,
// collapse or buffer each page is, and what a free ends.
import type { Adapter } from '../adapter.js';
import { delete_from_swap_cache } from '../swap.js';
import { replace_page } from '../ksm.js';
import { PGTABLE_GFP, type PendingFault, type ReplayEvent } from './events.js';
import { exitMmap } from './fork.js';
import { freedWhileMapped } from './migration.js';

/** What a gfp_flags string says of its allocation: a trace has a handful of them, each tested once. */
interface GfpClass {
  /** vmalloc'ed kernel buffers (GFP_KERNEL|__GFP_HIGHMEM, not movable): test_hmm's bounce buffer. */
  vmalloc: boolean;
  /** A user page: GFP_HIGHUSER_MOVABLE for 4K pages, GFP_TRANSHUGE* for THPs. */
  user: boolean;
  thp: boolean;
  /** GFP_PGTABLE_USER (GFP_KERNEL_ACCOUNT|__GFP_ZERO, with __GFP_COMP where the kernel adds it,
   *  in either order): a page-table page. */
  pgtable: boolean;
}

const gfpClasses = new Map<string, GfpClass>();

function gfpClass(gfp: string): GfpClass {
  let c = gfpClasses.get(gfp);
  if (!c) {
    c = {
      vmalloc: /__GFP_HIGHMEM/.test(gfp) && !/MOVABLE/.test(gfp),
      user: /MOVABLE|TRANSHUGE/.test(gfp),
      thp: /TRANSHUGE/.test(gfp),
      pgtable: PGTABLE_GFP.test(gfp),
    };
    gfpClasses.set(gfp, c);
  }
  return c;
}

export function mm_page_alloc(ad: Adapter, e: ReplayEvent, pf: PendingFault | undefined): void {
  const gfp = e.gfp_flags;
  if (!gfp) return;
  const c = gfpClass(gfp);
  const pfn = e.pfn;
  if (!pf && c.vmalloc) ad.dx?.readNotBefore(ad.task(e));
  // A user page allocated inside a task's fault is that fault's page; page-table pages are
  // GFP_KERNEL and ignored. A damaged event without its page tells the fault nothing.
  if (pf && c.user) {
    if (pfn !== null) pf.ev.allocs.push({ pfn, order: e.order! });
  }
  // A THP allocated outside a fault is a collapse's (khugepaged or MADV_COLLAPSE).
  else if (!pf && e.order === 9 && c.thp) {
    if (pfn !== null) ad.collapse.set(e.tid, { pfn });
  }
  // A page-table page the fault needed.
  else if (pf && e.order === 0 && c.pgtable) pf.ev.pgtables++;
}

export function mm_page_free(ad: Adapter, e: ReplayEvent, pf: PendingFault | undefined): void {
  const m = ad.m;
  // Before 6.16 sched_process_exit comes after exit_mm: an exiting task's frees are its exit_mmap.
  const t = ad.task(e);
  if (t.mm?.exiting && !t.mm.dead && t.mm.users <= 1 && !m.k.exitTracepointBeforeExitMm)
    exitMmap(ad, t.mm, t.tid);
  if (!pf) ad.dx?.pageFree(t);
  const pfn = e.pfn;
  if (pfn === null) return;
  if (pf) {
    const i = pf.ev.allocs.findIndex((a) => a.pfn === pfn);
    if (i >= 0) {
      pf.ev.allocs.splice(i, 1);
      pf.backedOut = true;
      return;
    }
  }
  const kpage = ad.ksmReplacing.size ? ad.ksmReplacing.get(e.tid) : undefined;
  if (kpage) ad.ksmReplacing.delete(e.tid);
  const f = m.byPfn.get(pfn);
  if (!f || f.freed) return;
  // ksmd frees the page it just replaced by a KSM page (the merge event came first).
  if (kpage && f.mapcount === 1 && !f.ksm) {
    const at = [...f.rmap.values()][0];
    replace_page(m, m.mms[at.mm], at.va, kpage);
  } else if (f.mapcount + f.entireMapcount > 0) freedWhileMapped(ad, f, e);
  // Reclaim frees a swapped-out page once written (__remove_mapping): it leaves the swap cache.
  else if (f.swapSlot !== null) delete_from_swap_cache(m, f);
}

export function mm_lru_insertion(ad: Adapter, e: ReplayEvent): void {
  const f = ad.m.byPfn.get(e.pfn!);
  if (f && !f.lru) {
    ad.m.touchFolio(f);
    f.lru = true;
  }
}
