// make_device_exclusive (6.15+, mm/rmap.c): one page at a time, GUP then convert under the folio
// lock, retried until the PTE maps that page writably, so nothing slips in between.
import type { DeviceExclusive } from '../device_exclusive.js';
import type { ReplayEvent } from '../adapter.js';
import { MMU_NOTIFY } from '../mmu_notifier.js';
import { PAGE_SIZE } from '../types.js';
import { get_user_pages_remote } from './gup.js';
import { result } from './make_device_exclusive_range.js';
import type { Call } from './types.js';

/** make_device_exclusive (6.15+): per page, GUP then convert under the folio lock, retrying until consistent. */
export function make_device_exclusive(
  dx: DeviceExclusive,
  c: Call,
  e: ReplayEvent,
  one: boolean,
): void {
  const m = dx.m;
  const task = c.req.task;
  const mm = c.req.mm;
  while (c.next < c.npages) {
    const i = c.next++;
    const va = c.start + i * PAGE_SIZE;
    const gup = get_user_pages_remote(dx, task, va, 1);
    if (!gup.length) {
      result(dx, c, i, { va, folio: null, index: 0 }, 'failed', 'gup_short', e.ts);
      c.next = c.npages;
      return;
    }
    const g = gup[0];
    const f = g.folio!;
    if (!f.anon) {
      m.folio_put(f);
      result(dx, c, i, g, 'failed', 'not_anon', e.ts);
      c.next = c.npages;
      return;
    }
    // folio_lock_killable waits; folio_walk_start rechecks the PTE under its lock and retries
    // (GUP again) until it maps dx page writably, so nothing can slip in between.
    const p = m.pte(mm, va)!;
    m.mmu_notifier_invalidate(mm, va, va + PAGE_SIZE, MMU_NOTIFY.EXCLUSIVE, null);
    m.set_pte_at(mm, va, { ...p, kind: 'device_exclusive', entryWrite: true, write: false });
    f.locked = true;
    result(dx, c, i, g, 'exclusive', 'exclusive', e.ts);
    c.gupCount++;
    if (one) return;
  }
}
