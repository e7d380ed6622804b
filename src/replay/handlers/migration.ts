// Migration PTEs (migrate:set_migration_pte / remove_migration_pte), pages freed while mapped, the
// folio locks migration and ksmd hold (folio_unlock ends them), and KSM merges.
import type { Adapter } from '../adapter.js';
import { split_huge_page } from '../huge_memory.js';
import { find_vma } from '../vma.js';
import { write_protect_page } from '../ksm.js';
import { wp_page_copy } from '../memory.js';
import { PAGE_SIZE, type Folio } from '../types.js';

import { ReplayEvent } from './events.js';

/** migrate:set_migration_pte / remove_migration_pte, with the PFN each PTE holds (input.ts). */
export function migrationPte(ad: Adapter, e: ReplayEvent, set: boolean): void {
  const m = ad.m;
  const t = ad.task(e);
  const mm = t.mm;
  const { addr, pte_pfn } = e;
  if (!mm || addr === null) return;
  const va = addr - (addr % PAGE_SIZE);
  const p = m.pte(mm, va);
  if (set) {
    if (p?.kind !== 'present' || !p.folio) return;
    // The entry names the folio: a trace without allocation events learns its PFN here.
    if (p.folio.pfn === null && pte_pfn !== null) m.setPfn(p.folio, pte_pfn, 'observed');
    // migrate_folio_unmap holds the folio lock from unmapping until the PTEs are restored.
    m.touchFolio(p.folio);
    p.folio.locked = true;
    m.rmap_remove(p.folio, mm, va);
    m.set_pte_at(mm, va, { ...p, kind: 'migration', entryWrite: p.write, write: false });
    return;
  }
  if (p?.kind === 'present' && p.folio && p.folio.order > 0) {
    // remove_migration_pte with no set_migration_pte: split_huge_page remapping the pieces of a
    // THP it split (the PFN stays); the folio is order-0 pieces from here on.
    split_huge_page(m, p.folio);
    return;
  }
  if (p?.kind !== 'migration' || !p.folio || pte_pfn === null) return;
  // remove_migration_pte: the entry becomes a present PTE to the new folio; the old one goes.
  const pfn = pte_pfn;
  const old = p.folio;
  // migrate_pages_batch unlocks source and destination after remove_migration_ptes: where
  // folio_unlock is traced, each stays locked until its own unlock.
  const held = ad.opts.folioUnlockTraced === true;
  old.locked = held;
  if (held) ad.lockedUntilUnlock.set(old.pfn, old);
  if (old.pfn === pfn) {
    // Migration failed (an extra reference, e.g. a GUP pin): the old page is mapped back.
    m.rmap_add(old, mm, va);
    m.set_pte_at(mm, va, { ...p, kind: 'present', write: p.entryWrite });
    return;
  }
  const nf = m.newFolio({
    anon: old.anon,
    shmem: old.shmem,
    refcount: 1,
    anonExclusive: old.anonExclusive,
  });
  m.setPfn(nf, pfn, 'observed');
  nf.locked = held;
  if (held) ad.lockedUntilUnlock.set(pfn, nf);
  m.rmap_add(nf, mm, va);
  m.set_pte_at(mm, va, {
    ...p,
    kind: 'present',
    folio: nf,
    write: p.entryWrite,
    confidence: 'observed',
  });
  m.folio_put(old);
}

/**
 * The kernel freed a page the model still maps. When another process frees a shared anonymous
 * page, its other mappers must have broken COW first, unseen: a kernel-mode write (rseq's
 * put_user, a syscall's copy_to_user) faults as page_fault_kernel, which a trace without that
 * event does not show, and a GUP's per-page progress is interpolated. The model replays that
 * copy (wp_page_copy: a new page of unknown PFN) and says so; anything else is unexplained.
 */
export function freedWhileMapped(ad: Adapter, f: Folio, e: ReplayEvent): void {
  const m = ad.m;
  const what = `mm_page_free pfn 0x${e.pfn!.toString(16)} while the model maps folio ${f.id} ${f.mapcount} times`;
  // Only another process's free says the mappers left copied it: the freeing task's own mapping
  // going unseen is a different story (GUP timing, a race) the model cannot settle ad way.
  const freer = ad.m.tasks.get(e.tid)?.mm;
  const elsewhere = [...f.rmap.values()].every((r) => ad.m.mms[r.mm] !== freer);
  if (
    !f.anon ||
    f.anonExclusive ||
    f.entireMapcount > 0 ||
    ad.opts.kernelFaultsTraced ||
    !elsewhere
  ) {
    m.sink.violation('freed_page_still_mapped', what, m.label(f.preTrace));
    return;
  }
  for (const { mm: id, va } of [...f.rmap.values()]) {
    const mm = m.mms[id];
    const vma = find_vma(mm, va);
    if (vma) wp_page_copy(m, mm, vma, va, null);
  }
  m.sink.violation(
    'freed_page_still_mapped',
    `${what}: replayed as an unseen copy-on-write (a kernel-mode write, page_fault_kernel not traced, or a GUP FOLL_WRITE placed later than it ran)`,
    m.nearLoss ? 'lost-events' : 'untraced',
  );
}

/**
 * try_to_migrate / try_to_merge_one_page: migrate_folio_unmap locked the folio before it unmaps
 * (else the read-ahead windows of dx.migrationLocks cover it); try_to_merge_one_page trylocks it
 * for write_protect_page and replace_page, which can take ms. Where folio_unlock is traced it
 * stays locked until then.
 */
export function folioLocked(ad: Adapter, e: ReplayEvent): void {
  const pfn = e.pfn;
  const f = pfn === null ? undefined : ad.m.byPfn.get(pfn);
  if (f && ad.opts.folioUnlockTraced === true) {
    f.locked = true;
    ad.lockedUntilUnlock.set(f.pfn, f);
  }
}

/** folio_unlock: a folio a migration, ksmd or a device-exclusive caller held is let go. */
export function folioUnlock(ad: Adapter, e: ReplayEvent): void {
  const pfn = e.pfn;
  if (pfn !== null) ad.dx?.folioUnlock(pfn);
  const f = pfn === null ? undefined : ad.lockedUntilUnlock.get(pfn);
  if (f) {
    ad.lockedUntilUnlock.delete(f.pfn);
    f.locked = false;
  }
}

/**
 * ksm:ksm_merge_with_ksm_page: without "ksm " the page itself became the KSM page; with it, some
 * page was replaced by this KSM page, and which one the free that follows tells (the event names
 * no address).
 */
export function ksm_merge_with_ksm_page(ad: Adapter, e: ReplayEvent): void {
  if (e.err !== 0 || e.pfn === null) return;
  const f = ad.m.byPfn.get(e.pfn);
  if (!f || f.freed) return;
  if (e.ksm_page === 0) write_protect_page(ad.m, f);
  else ad.ksmReplacing.set(e.tid, f);
}
