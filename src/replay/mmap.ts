// mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c: address-space operations.
import { zap_pte_range, mm_counter, add_mm_counter } from './memory.js';
import { madvise_pageout } from './swap.js';
import { vaOf, type Model } from './model.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { PAGE_SIZE, type Mm, type Vma } from './types.js';
import { find_vma, insertVma, removeVma, splitRange, touchVma } from './vma.js';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x100;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

export const MADV = {
  DONTNEED: 4,
  FREE: 8,
  REMOVE: 9,
  DONTFORK: 10,
  DOFORK: 11,
  MERGEABLE: 12,
  UNMERGEABLE: 13,
  HUGEPAGE: 14,
  NOHUGEPAGE: 15,
  COLD: 20,
  PAGEOUT: 21,
  DONTNEED_LOCKED: 24,
} as const;

const pageAlign = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** vma_merge: neighbours with the same attributes (and compatible anon_vma) become one VMA. */
export function vma_merge(m: Model, mm: Mm, start: number, end: number): void {
  const v = mm.vmas;
  for (let i = 1; i < v.length; i++) {
    const a = v[i - 1];
    const b = v[i];
    if (a.end !== b.start || b.end < start || a.start > end) continue;
    const same =
      a.read === b.read &&
      a.write === b.write &&
      a.exec === b.exec &&
      a.shared === b.shared &&
      a.file === b.file &&
      a.growsdown === b.growsdown &&
      a.hugepage === b.hugepage &&
      a.mergeable === b.mergeable &&
      a.dontfork === b.dontfork &&
      a.preTrace === b.preTrace &&
      (a.file === null || b.pgoff === a.pgoff + (a.end - a.start) / PAGE_SIZE) &&
      (a.anonVma === null || b.anonVma === null || a.anonVma === b.anonVma);
    if (!same) continue;
    touchVma(m, mm, a);
    a.end = b.end;
    a.anonVma ??= b.anonVma;
    removeVma(m, mm, b);
    i--;
  }
}

/** do_vmi_munmap: zap the range's pages, then drop or trim its VMAs. */
export function do_munmap(m: Model, mm: Mm, start: number, len: number): void {
  const end = start + pageAlign(len);
  for (const vma of splitRange(m, mm, start, end)) {
    zap_pte_range(m, mm, vma.start, vma.end, MMU_NOTIFY.UNMAP);
    removeVma(m, mm, vma);
  }
  m.geo.free_pgtables(mm, start, end);
}

/** do_mmap, applied once the syscall returned the address. */
export function do_mmap(
  m: Model,
  mm: Mm,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  off: number,
  fileId: string | null,
): Vma {
  const end = addr + pageAlign(len);
  if (splitRange(m, mm, addr, end).length) do_munmap(m, mm, addr, end - addr);
  const anon = (flags & MAP_ANONYMOUS) !== 0 || fd < 0;
  const shared = (flags & MAP_SHARED) !== 0;
  const vma = m.newVma({
    start: addr,
    end,
    read: (prot & PROT_READ) !== 0,
    write: (prot & PROT_WRITE) !== 0,
    exec: (prot & PROT_EXEC) !== 0,
    shared,
    // Shared anonymous memory is shmem underneath (shmem_zero_setup).
    file: anon ? (shared ? `shmem:anon:${mm.id}:${addr.toString(16)}` : null) : fileId,
    pgoff: anon ? 0 : Math.floor(off / PAGE_SIZE),
    growsdown: (flags & MAP_GROWSDOWN) !== 0,
    hugepage: 'default',
    mergeable: false,
    dontfork: false,
    preTrace: false,
  });
  insertVma(m, mm, vma);
  vma_merge(m, mm, addr, end);
  return find_vma(mm, addr) ?? vma;
}

/**
 * mprotect_fixup + change_pte_range: removing write makes every PTE read-only (writable
 * device-exclusive and migration entries become readable); adding write makes a PTE writable at once
 * only where can_change_pte_writable allows (an exclusive anon page, or a dirty shared page).
 */
export function do_mprotect(m: Model, mm: Mm, start: number, len: number, prot: number): void {
  const end = start + pageAlign(len);
  for (const vma of splitRange(m, mm, start, end)) {
    m.mmu_notifier_invalidate(mm, vma.start, vma.end, MMU_NOTIFY.PROTECTION_VMA);
    touchVma(m, mm, vma);
    vma.read = (prot & PROT_READ) !== 0;
    vma.write = (prot & PROT_WRITE) !== 0;
    vma.exec = (prot & PROT_EXEC) !== 0;
    for (const vpn of m.ptesIn(mm, vma.start, vma.end)) {
      const va = vaOf(vpn);
      const p = mm.ptes.get(vpn)!;
      if (p.kind === 'present') {
        if (!vma.write && p.write) m.modify_pte(mm, va, { write: false });
        else if (vma.write && !p.write && p.folio && !p.uffdWp) {
          const f = p.folio;
          const ok = vma.shared ? p.dirty : f.anon && !f.zero && f.anonExclusive;
          if (ok) m.modify_pte(mm, va, { write: true });
        }
      } else if (
        (p.kind === 'device_exclusive' || p.kind === 'migration' || p.kind === 'device_private') &&
        !vma.write &&
        p.entryWrite
      ) {
        m.modify_pte(mm, va, { entryWrite: false });
      }
    }
  }
  vma_merge(m, mm, start, end);
}

/** mremap: shrink unmaps the tail; grow extends in place or moves (move_page_tables). */
export function do_mremap(
  m: Model,
  mm: Mm,
  addr: number,
  oldLen: number,
  newLen: number,
  result: number,
): void {
  oldLen = pageAlign(oldLen);
  newLen = pageAlign(newLen);
  if (newLen < oldLen) {
    do_munmap(m, mm, addr + newLen, oldLen - newLen);
    oldLen = newLen;
  }
  const vmas = splitRange(m, mm, addr, addr + oldLen);
  if (!vmas.length) return;
  if (result === addr) {
    const last = vmas[vmas.length - 1];
    touchVma(m, mm, last);
    last.end = addr + newLen;
    return;
  }
  // move_vma: the new range is unmapped first; then each PTE moves with its page and its rmap.
  do_munmap(m, mm, result, newLen);
  m.mmu_notifier_invalidate(mm, addr, addr + oldLen, MMU_NOTIFY.UNMAP);
  const delta = result - addr;
  for (const vma of vmas) {
    for (const vpn of m.ptesIn(mm, vma.start, vma.end)) {
      const va = vaOf(vpn);
      const p = mm.ptes.get(vpn)!;
      m.set_pte_at(mm, va, null);
      const f = p.folio;
      if (f && !f.zero && (p.kind === 'present' || p.kind === 'device_private')) {
        if (p.pmd) {
          if (p.index === 0) {
            f.rmap.delete(`${mm.id}:${va}:pmd`);
            f.rmap.set(`${mm.id}:${va + delta}:pmd`, { mm: mm.id, va: va + delta });
          }
        } else {
          m.rmap_remove(f, mm, va);
          m.rmap_add(f, mm, va + delta);
        }
      }
      m.set_pte_at(mm, va + delta, { ...p });
    }
    removeVma(m, mm, vma);
    const moved = m.newVma({
      ...vma,
      start: vma.start + delta,
      end: vma.end + delta,
      anonVma: vma.anonVma,
    });
    if (vma === vmas[vmas.length - 1]) moved.end = result + newLen;
    insertVma(m, mm, moved);
  }
  // The old range's tables go as munmap's would. (move_normal_pmd, which moves whole PTE tables
  // when both ranges are PMD-aligned, is not modelled: the model allocates new ones.)
  m.geo.free_pgtables(mm, addr, addr + oldLen);
}

/** brk: grow or shrink the heap VMA (mm/mmap.c do_brk_flags / do_vmi_align_munmap). */
export function do_brk(m: Model, mm: Mm, newBrk: number): void {
  const old = mm.brk;
  mm.brk = newBrk;
  if (old === null || newBrk === old) return;
  const oldEnd = pageAlign(old);
  const newEnd = pageAlign(newBrk);
  if (newEnd < oldEnd) {
    do_munmap(m, mm, newEnd, oldEnd - newEnd);
    return;
  }
  if (newEnd === oldEnd) return;
  const heap = find_vma(mm, oldEnd - 1);
  if (heap && heap.end === oldEnd && heap.file === null) {
    touchVma(m, mm, heap);
    heap.end = newEnd;
  } else {
    insertVma(
      m,
      mm,
      m.newVma({
        start: oldEnd,
        end: newEnd,
        read: true,
        write: true,
        exec: false,
        shared: false,
        file: null,
        pgoff: 0,
        growsdown: false,
        hugepage: 'default',
        mergeable: false,
        dontfork: false,
        preTrace: false,
      }),
    );
  }
}

/** madvise: the behaviours that change page tables or VMA flags. */
export function do_madvise(m: Model, mm: Mm, start: number, len: number, behavior: number): void {
  const end = start + pageAlign(len);
  switch (behavior) {
    case MADV.DONTNEED:
    case MADV.DONTNEED_LOCKED:
    case MADV.REMOVE:
      // madvise_dontneed_single_vma -> zap_page_range_single; the VMAs stay whole.
      for (const vma of mm.vmas.filter((v) => v.end > start && v.start < end))
        zap_pte_range(m, mm, Math.max(start, vma.start), Math.min(end, vma.end));
      return;
    case MADV.FREE:
      // madvise_free_pte_range: exclusive anon pages become lazily freeable (clean, old); shared
      // ones are left alone. Reclaim may drop them later; the model keeps them until it sees that.
      for (const vpn of m.ptesIn(mm, start, end)) {
        const p = mm.ptes.get(vpn)!;
        if (p.kind === 'present' && p.folio?.anon && p.folio.mapcount === 1)
          m.modify_pte(mm, vaOf(vpn), { dirty: false, accessed: false });
      }
      return;
    case MADV.HUGEPAGE:
    case MADV.NOHUGEPAGE:
    case MADV.MERGEABLE:
    case MADV.UNMERGEABLE:
    case MADV.DONTFORK:
    case MADV.DOFORK:
      for (const vma of splitRange(m, mm, start, end)) {
        touchVma(m, mm, vma);
        if (behavior === MADV.HUGEPAGE) vma.hugepage = 'hugepage';
        if (behavior === MADV.NOHUGEPAGE) vma.hugepage = 'nohugepage';
        if (behavior === MADV.MERGEABLE) vma.mergeable = true;
        if (behavior === MADV.UNMERGEABLE) vma.mergeable = false;
        if (behavior === MADV.DONTFORK) vma.dontfork = true;
        if (behavior === MADV.DOFORK) vma.dontfork = false;
      }
      vma_merge(m, mm, start, end);
      return;
    case MADV.COLD:
      // Deactivation only: the pages stay mapped.
      return;
    case MADV.PAGEOUT:
      // Anonymous pages go to swap where there is swap; file pages are left (not modelled).
      if (m.swapOn)
        for (const vma of mm.vmas.filter((v) => v.end > start && v.start < end && v.file === null))
          madvise_pageout(m, mm, Math.max(start, vma.start), Math.min(end, vma.end));
      return;
  }
}

/** exit_mmap: every VMA is zapped and freed; the mm's counters end at zero. */
export function exit_mmap(m: Model, mm: Mm): void {
  for (const vma of [...mm.vmas]) {
    zap_pte_range(m, mm, vma.start, vma.end, MMU_NOTIFY.UNMAP);
    removeVma(m, mm, vma);
  }
  // Entries outside any VMA the model knew (pre-trace state) go too.
  for (const vpn of [...mm.ptes.keys()]) {
    const p = mm.ptes.get(vpn)!;
    if (p.folio && !p.folio.zero && p.kind === 'present') {
      m.rmap_remove(p.folio, mm, vaOf(vpn));
      add_mm_counter(mm, mm_counter(p.folio), -1);
      m.folio_put(p.folio);
    }
    m.set_pte_at(mm, vaOf(vpn), null);
  }
  for (const tables of mm.pgtables) tables.clear();
  mm.dead = true;
  mm.lastUnmapped.clear();
}
