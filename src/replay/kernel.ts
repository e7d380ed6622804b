// Semantics that differ between the kernel versions we model. Each flag cites where it changes.

export type KernelVersion = '6.1' | '6.12' | '6.18';
export const KERNEL_VERSIONS: KernelVersion[] = ['6.1', '6.12', '6.18'];

export interface KernelSemantics {
  version: KernelVersion;
  /** 6.1 mm/memory.c SPLIT_RSS_COUNTING: fault-path counters are cached per task and synced
   *  every 64 events (sync_mm_rss), so rss_stat lags; 6.2+ percpu counters emit per update. */
  splitRssCounting: boolean;
  /** 6.16+ (kernel/exit.c): sched_process_exit fires before exit_mm(). */
  exitTracepointBeforeExitMm: boolean;
  /** mm/memory.c do_swap_page: an exclusive swapped-in page is mapped writable on a read fault in
   *  a writable VMA (6.12, 6.18); 6.1 maps it writable only on a write fault. */
  swapinMapsWritableOnRead: boolean;
  /** Device-exclusive conversion: make_device_exclusive_range (5.14-6.14) or make_device_exclusive (6.15+). */
  deviceExclusive: '5.14' | '6.15';
}

export function semantics(v: KernelVersion): KernelSemantics {
  switch (v) {
    case '6.1':
      return {
        version: v,
        splitRssCounting: true,
        exitTracepointBeforeExitMm: false,
        swapinMapsWritableOnRead: false,
        deviceExclusive: '5.14',
      };
    case '6.12':
      return {
        version: v,
        splitRssCounting: false,
        exitTracepointBeforeExitMm: false,
        swapinMapsWritableOnRead: true,
        deviceExclusive: '5.14',
      };
    case '6.18':
      return {
        version: v,
        splitRssCounting: false,
        exitTracepointBeforeExitMm: true,
        swapinMapsWritableOnRead: true,
        deviceExclusive: '6.15',
      };
  }
}

/** The version a trace's kernel release (`6.18.44-...`, `6.12.117`) is closest to. */
export function versionForRelease(release: string | undefined): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!m) return '6.18';
  const n = Number(m[1]) * 1000 + Number(m[2]);
  return n < 6002 ? '6.1' : n < 6015 ? '6.12' : '6.18';
}

/**
 * The version a trace's probed functions imply when it does not say its release:
 * make_device_exclusive_range exists from 5.14 to 6.14 (mm/rmap.c), make_device_exclusive from
 * 6.15; the page_*_rmap functions became folio_* in 6.5-6.8.
 */
export function versionForProbedFunctions(funcs: string[]): KernelVersion | null {
  const has = (f: string) => funcs.includes(f);
  if (has('make_device_exclusive')) return '6.18';
  if (['page_add_new_anon_rmap', 'page_add_anon_rmap', 'page_remove_rmap'].some(has)) return '6.1';
  if (has('make_device_exclusive_range')) return '6.12';
  return null;
}
