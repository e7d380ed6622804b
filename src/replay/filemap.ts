// mm/filemap.c: the page cache, and the file pages fault-around maps (filemap_map_pages).
import { type FaultEvidence } from './memory.js';
import { type Mm, PAGE_SIZE, type Pte, type Vma, type Folio } from './types.js';
import type { Model } from './model.js';
import { presentPte } from './pte.js';

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

/** The pages do_read_fault maps around va (fault_around_bytes = 64K), va first. */
export function faultAroundWindow(vma: Vma, va: number): number[] {
  const win = 16 * PAGE_SIZE;
  const s = Math.max(vma.start, va - (va % win));
  const e = Math.min(vma.end, s + win);
  const out = [va];
  for (let a = s; a < e; a += PAGE_SIZE) if (a !== va) out.push(a);
  return out;
}
