// userfaultfd write-protection (mm/userfaultfd.c uffd_wp_range -> mm/mprotect.c change_pte_range,
// 6.12): the PTE changes a UFFDIO_WRITEPROTECT makes inside a device-exclusive window.
import { type Model } from './model.js';
import { MMU_NOTIFY } from './mmu_notifier.js';
import { PAGE_SIZE, type Mm } from './types.js';
import { find_vma } from './vma.js';

/** include/uapi/linux/userfaultfd.h: UFFDIO_WRITEPROTECT = _IOWR(0xAA, 0x06, struct uffdio_writeprotect). */
export const UFFDIO_WRITEPROTECT = 0xc018aa06;

/**
 * uffd_wp_range(vma, start, len, enable_wp): change_protection with MM_CP_UFFD_WP (the PTE goes
 * read-only, uffd-wp set: vm_page_prot of a VM_UFFD_WP vma is write-protected) or
 * MM_CP_UFFD_WP_RESOLVE | MM_CP_TRY_CHANGE_WRITABLE for a private writable vma (uffd-wp cleared,
 * writable again where can_change_pte_writable: an exclusive anonymous page). A writable
 * device-exclusive entry becomes a readable one either way. One PROTECTION_VMA notifier covers the
 * range (change_pud_range).
 */
export function uffd_wp_range(
  m: Model,
  mm: Mm,
  start: number,
  end: number,
  enable_wp: boolean,
): void {
  m.mmu_notifier_invalidate(mm, start, end, MMU_NOTIFY.PROTECTION_VMA);
  for (let va = start; va < end; va += PAGE_SIZE) {
    const p = m.pte(mm, va);
    if (!p) continue;
    const vma = find_vma(mm, va);
    if (p.kind === 'present') {
      if (enable_wp) {
        if (p.write || !p.uffdWp) m.modify_pte(mm, va, { write: false, uffdWp: true });
      } else {
        const f = p.folio;
        const writable = !!vma?.write && !vma.shared && !!f && f.anon && !f.zero && f.anonExclusive;
        m.modify_pte(mm, va, { uffdWp: false, write: writable || (p.write && !p.uffdWp) });
      }
    } else if (p.kind === 'device_exclusive' && p.entryWrite) {
      m.modify_pte(mm, va, { entryWrite: false, uffdWp: enable_wp });
    }
  }
}

/**
 * Whether a UFFDIO_WRITEPROTECT whose mode the trace does not show protects or resolves: a range
 * whose present PTEs are all uffd-wp already is being resolved (the racer toggles), else protected.
 */
export function uffd_wp_guess(m: Model, mm: Mm, start: number, end: number): boolean {
  let seen = false;
  for (let va = start; va < end; va += PAGE_SIZE) {
    const p = m.pte(mm, va);
    if (p?.kind !== 'present') continue;
    seen = true;
    if (!p.uffdWp) return true;
  }
  return !seen;
}
