// include/linux/mmu_notifier.h: what an invalidation tells its subscribers.
import type { Mm } from './types.js';

/** include/linux/mmu_notifier.h enum mmu_notifier_event. */
export const MMU_NOTIFY = {
  UNMAP: 0,
  CLEAR: 1,
  PROTECTION_VMA: 2,
  PROTECTION_PAGE: 3,
  SOFT_DIRTY: 4,
  RELEASE: 5,
  MIGRATE: 6,
  EXCLUSIVE: 7,
} as const;

/** A subscriber to mmu notifier invalidations (a device mirror). `owner` null: nobody's. */
export type InvalidateListener = (
  mm: Mm,
  start: number,
  end: number,
  event: number,
  owner: string | null,
) => void;
