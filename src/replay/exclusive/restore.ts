// The CPU side of an entry (mm/memory.c 6.12 do_swap_page -> remove_device_exclusive_entry,
// restore_exclusive_pte; fork's try_restore_exclusive_pte), and the folio locks that make faults wait.
import type { DeviceExclusive } from '../device_exclusive.js';
import type { ReplayEvent } from '../adapter.js';
import { do_wp_page } from '../memory.js';
import { presentPte } from '../pte.js';
import { MMU_NOTIFY } from '../mmu_notifier.js';
import { PAGE_SIZE, type Folio, type Mm, type Pte, type Vma } from '../types.js';
import type { Request, Waiter } from './types.js';
import { find_vma } from '../vma.js';

/**
 * A CPU fault (`cpu`) or GUP fault on a non-present entry. Returns true if it was device-exclusive.
 * A CPU fault restores the entry when its notifier (or do_swap_page) shows, a few us after the
 * exception: a read through the mirror can fall in between.
 */
export function swapFault(
  dx: DeviceExclusive,
  mm: Mm,
  vma: Vma,
  va: number,
  pte: Pte,
  write: boolean,
  cpu = false,
): boolean {
  if (pte.kind !== 'device_exclusive') return false;
  const f = pte.folio!;
  const w = { tid: dx.m.tid, mm, va, write, folio: f };
  if (f.locked) {
    // folio_lock_or_retry: the fault waits for the converting caller to unlock the folio.
    const q = dx.waiting.get(f) ?? [];
    q.push(w);
    dx.waiting.set(f, q);
    return true;
  }
  if (cpu && (dx.notifierTraced || dx.swapTraced)) {
    dx.woken.push(w);
    return true;
  }
  remove_device_exclusive_entry(dx, mm, vma, va, pte);
  if (write && !dx.m.pte(mm, va)!.write) do_wp_page(dx.m, mm, vma, va, dx.m.pte(mm, va)!, null);
  return true;
}

/**
 * remove_device_exclusive_entry + restore_exclusive_pte: notifier (EXCLUSIVE on <=6.14, CLEAR on
 * 6.15+, owner NULL), then a present PTE again; <=6.14 re-adds the rmap the conversion removed.
 */
export function remove_device_exclusive_entry(
  dx: DeviceExclusive,
  mm: Mm,
  vma: Vma,
  va: number,
  pte: Pte,
): void {
  const m = dx.m;
  const f = pte.folio!;
  m.mmu_notifier_invalidate(
    mm,
    va,
    va + PAGE_SIZE,
    dx.design === '6.15' ? MMU_NOTIFY.CLEAR : MMU_NOTIFY.EXCLUSIVE,
    null,
  );
  if (dx.design !== '6.15') m.rmap_add(f, mm, va);
  const write = pte.entryWrite && vma.write;
  m.set_pte_at(
    mm,
    va,
    presentPte(f, {
      write,
      dirty: write,
      accessed: false,
      softDirty: pte.softDirty,
      uffdWp: pte.uffdWp,
      confidence: pte.confidence,
    }),
  );
}

/** try_restore_exclusive_pte at fork: restore in the parent, or fail the fork if the folio is locked. */
export function restoreForFork(dx: DeviceExclusive, mm: Mm, va: number, pte: Pte): boolean {
  const f = pte.folio!;
  // v8 waited for the lock (sleeping lock_page); 5.14+ trylocks and fails the fork (-ENOMEM).
  if (f.locked && dx.design !== 'v8') return false;
  const vma = find_vma(mm, va);
  if (!vma) return true;
  remove_device_exclusive_entry(dx, mm, vma, va, pte);
  return true;
}

/** Faults that waited on a folio lock become runnable once it is released. */
export function releaseWaiters(dx: DeviceExclusive, f: Folio): void {
  const q = dx.waiting.get(f);
  if (!q) return;
  dx.waiting.delete(f);
  dx.woken.push(...q);
}

/**
 * An event of a task with woken faults: the fault whose retry dx event shows restores its
 * entry, unless something replaced it meanwhile; a fault-path event for another address means
 * the retry found nothing left to restore.
 */
export function wakeOn(dx: DeviceExclusive, e: ReplayEvent): void {
  const mine = (w: Waiter) => w.tid === e.tid;
  const notifier = e.event === 'kprobe:mmu_notifier_invalidate_range_start';
  const swap = e.event === 'kprobe:do_swap_page';
  const covers = (w: Waiter) =>
    notifier
      ? e.start !== null && e.end !== null && e.start <= w.va && w.va < e.end
      : e.address === w.va;
  const shows = dx.notifierTraced ? notifier : dx.swapTraced ? swap : true;
  if (!shows) return;
  const keep: Waiter[] = [];
  for (const w of dx.woken) {
    if (!mine(w)) keep.push(w);
    else if (dx.notifierTraced || dx.swapTraced ? covers(w) : true) {
      const p = dx.m.pte(w.mm, w.va);
      const vma = find_vma(w.mm, w.va);
      if (p?.kind === 'device_exclusive' && p.folio === w.folio && vma)
        swapFault(dx, w.mm, vma, w.va, p, w.write);
    }
  }
  dx.woken = keep;
}

/** folio_unlock(folio) in a caller that made it exclusive: its faults may now restore the entry. */
export function folioUnlock(dx: DeviceExclusive, pfn: number): void {
  const h = dx.held.get(pfn);
  if (!h) return;
  dx.held.delete(pfn);
  unlock(dx, h.folio);
}

export function unlock(dx: DeviceExclusive, f: Folio): void {
  f.locked = false;
  dx.m.folio_put(f);
  releaseWaiters(dx, f);
}

/** After a call: unlock its folios now, or hold them for the folio_unlock events the trace has. */
export function unlockLater(dx: DeviceExclusive, f: Folio, r: Request): void {
  if (dx.unlockTraced && f.pfn !== null) dx.held.set(f.pfn, { folio: f, req: r });
  else unlock(dx, f);
}
