// folio_make_device_exclusive with page_make_device_exclusive_one as its rmap_one (6.12 mm/rmap.c).
import type { DeviceExclusive } from '../device_exclusive.js';
import { MMU_NOTIFY } from '../mmu_notifier.js';
import { PAGE_SIZE } from '../types.js';
import { releaseWaiters } from './restore.js';
import { result } from './make_device_exclusive_range.js';
import type { Call, Cause, GupPage } from './types.js';
import { find_vma } from '../vma.js';

/**
 * folio_make_device_exclusive (6.12): an rmap walk converts every present mapping of the folio,
 * in every mm, into a device-exclusive entry (writable by the old write bit); the page succeeds
 * only if the expected (mm, address) was among them, writable, and no mapping remains.
 */
export function folio_make_device_exclusive(
  dx: DeviceExclusive,
  c: Call,
  i: number,
  g: GupPage,
  ts: bigint,
): void {
  const m = dx.m;
  const f = g.folio!;
  f.locked = true;
  m.touchFolio(f);
  const mm = c.req.mm;
  let valid = false;
  const expected = m.pte(mm, g.va);
  for (const { mm: mmId, va } of [...f.rmap.values()]) {
    const owner = m.mms[mmId];
    const p = m.pte(owner, va);
    if (!p || p.kind !== 'present' || p.folio !== f) continue;
    const vma = find_vma(owner, va);
    // page_make_device_exclusive_one: notifier EXCLUSIVE (owner: test_hmm passes NULL).
    m.mmu_notifier_invalidate(
      owner,
      va,
      Math.min(vma?.end ?? va + PAGE_SIZE, va + PAGE_SIZE),
      MMU_NOTIFY.EXCLUSIVE,
      null,
    );
    if (owner === mm && va === g.va && p.write) valid = true;
    m.rmap_remove(f, owner, va);
    m.set_pte_at(owner, va, {
      ...p,
      kind: 'device_exclusive',
      entryWrite: p.write,
      write: false,
    });
  }
  if (valid && f.mapcount === 0) {
    result(dx, c, i, g, 'exclusive', 'exclusive', ts);
    return;
  }
  // Failed: unlock and put; entries converted on the way stay converted.
  f.locked = false;
  m.folio_put(f);
  g.folio = f;
  let cause: Cause;
  if (
    expected?.folio !== f ||
    (expected.kind !== 'present' && expected.kind !== 'device_exclusive')
  )
    cause = 'replaced';
  else if (!expected.write) cause = 'write_protected';
  else cause = 'mapped_elsewhere';
  result(dx, c, i, g, 'failed', cause, ts, expected);
  releaseWaiters(dx, f);
}
