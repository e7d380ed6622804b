// What a file's trace shows the replay, read before its events stream: which kernel paths its
// events and probes cover (the adapter's options, the model's switches), and what the
// device-exclusive verdicts lose for the probes it lacks.
import { quoteIdent, quoteString, type Db } from '../store/db.js';
import type { AdapterOptions } from './adapter.js';
import type { DeviceExclusive } from './device_exclusive.js';
import { versionForProbedFunctions, type KernelVersion } from './kernel.js';
import { bindProbes, roleSql, type Binding } from './probes.js';
import { UFFDIO_WRITEPROTECT } from './userfaultfd.js';
import { TLB_LOCAL_MM_SHOOTDOWN } from './exclusive/make_device_exclusive_range.js';

export interface Traced {
  /** The adapter's options but the THP mode and the design (the caller's). */
  adapter: Omit<AdapterOptions, 'thp' | 'design'> & { syscallsTraced: boolean };
  /** The machine swaps (Model.swapOn). */
  swapOn: boolean;
  /** The trace has make_device_exclusive_range's calls (Model.trackUnmaps). */
  trackUnmaps: boolean;
}

/** A file's events named `event`, from `_events` by the name's code (the `events` view joins every row's name). */
function eventRows(fileId: number, event: string): string {
  return `_events WHERE file_id = ${fileId} AND event_id IN (SELECT event_id FROM _event_names WHERE event = ${quoteString(event)})`;
}

async function hasEvent(db: Db, fileId: number, event: string): Promise<boolean> {
  return (await db.rows(`SELECT 1 FROM ${eventRows(fileId, event)} LIMIT 1`)).length > 0;
}

/** Which paths a file's events and bound probes show. */
export async function traced(db: Db, fileId: number, probes: Binding[]): Promise<Traced> {
  const allocsTraced = await hasEvent(db, fileId, 'kmem:mm_page_alloc');
  const tables = new Set(await db.tables());
  // A machine swaps if any process's swap-entry count rose above zero in the trace, or the trace
  // shows a page written to swap (vmscan's write tracepoint, a swap_writepage kprobe).
  const swapEvidence = [
    tables.has('kmem_rss_stat')
      ? `SELECT 1 FROM kmem_rss_stat JOIN events USING (id) WHERE file_id = ${fileId} AND member = 2 AND size > 0`
      : null,
    `SELECT 1 FROM ${eventRows(fileId, 'vmscan:mm_vmscan_write_folio')}`,
    tables.has('probes')
      ? `SELECT 1 FROM probes WHERE file_id = ${fileId} AND func = 'swap_writepage'`
      : null,
  ].filter((q) => q !== null);
  const swapOn =
    (await db.rows(`SELECT 1 FROM (${swapEvidence.join(' UNION ALL ')}) LIMIT 1`)).length > 0;
  const copy = probes.find((b) => b.role === 'kprobe:copy_page_range');
  // Only make_device_exclusive_range's calls read who unmapped a page (culprits, GUP's passes).
  const call = probes.find((b) => b.role === 'kprobe:make_device_exclusive_range');
  const trackUnmaps = call !== undefined && (await hasEvent(db, fileId, call.event));
  const syscallsTraced =
    (
      await db.rows(
        `SELECT 1 FROM _events JOIN _event_names USING (event_id) WHERE file_id = ${fileId} AND event LIKE 'syscalls:%' LIMIT 1`,
      )
    ).length > 0;
  const withArgs = (role: string) =>
    probes.some((b) => b.role === role && b.nums.every((n) => n !== ''));
  return {
    swapOn,
    trackUnmaps,
    adapter: {
      allocsTraced,
      kernelFaultsTraced: tables.has('exceptions_page_fault_kernel'),
      copyPageRangeTraced: copy !== undefined && copy.nums.every((x) => x !== ''),
      syscallsTraced,
      uffdTraced: withArgs('kprobe:uffd_wp_range') || withArgs('kprobe:change_protection'),
      newTaskTraced: tables.has('task_task_newtask'),
      folioUnlockTraced: probes.some((b) => b.role === 'kprobe:folio_unlock' && b.nums[0] !== ''),
      changeProtectionTraced: withArgs('kprobe:change_protection'),
      protectionNotifierTraced: withArgs('kprobe:mmu_notifier_invalidate_range_start'),
    },
  };
}

/** The device-exclusive model's view of the trace: what its probes show, and the migrations' locks. */
export async function dxEvidence(
  dx: DeviceExclusive,
  db: Db,
  fileId: number,
  probes: Binding[],
  syscallsTraced: boolean,
): Promise<void> {
  dx.migrationLocks = await migrationLocks(db, fileId, probes);
  dx.gupTraced = probes.some((b) => b.role === 'kprobe:get_user_pages_remote');
  dx.rmapWalkTraced = probes.some((b) => b.role === 'kprobe:rmap_walk');
  dx.mappingTraced = probes.some((b) => b.role === 'kprobe:page_make_device_exclusive_one');
  dx.walkUntraced = !dx.rmapWalkTraced && !dx.mappingTraced;
  const tables = await db.tables();
  const call = probes.find((b) => b.role === 'kprobe:make_device_exclusive_range');
  dx.walkClock =
    dx.walkUntraced &&
    call !== undefined &&
    tables.includes('tlb_tlb_flush') &&
    (await callerFlushes(db, fileId, call.table)) > 0;
  const uffdWriteProtects = tables.includes('syscalls_sys_enter_ioctl')
    ? Number(
        (
          await db.rows<{ n: bigint }>(
            `SELECT count(*) AS n FROM syscalls_sys_enter_ioctl JOIN events USING (id) WHERE file_id = ${fileId} AND cmd = ${UFFDIO_WRITEPROTECT}`,
          )
        )[0].n,
      )
    : 0;
  dx.missingEvidence = missingEvidence(probes, syscallsTraced, uffdWriteProtects, dx.walkClock);
  dx.unlockTraced = probes.some((b) => b.role === 'kprobe:folio_unlock' && b.nums[0] !== '');
  dx.notifierTraced = probes.some(
    (b) =>
      b.role === 'kprobe:mmu_notifier_invalidate_range_start' &&
      b.nums[0] !== '' &&
      b.nums[1] !== '',
  );
  dx.swapTraced = probes.some((b) => b.role === 'kprobe:do_swap_page' && b.nums[0] !== '');
}

/**
 * Read ahead: each folio a try_to_migrate kprobe names, and the window from its batch's
 * migrate:mm_migrate_pages_start (in the same task) to that call, in which the migration already
 * held the folio locked (mm/migrate.c migrate_folio_unmap locks before it unmaps).
 */
async function migrationLocks(
  db: Db,
  fileId: number,
  probes: Binding[],
): Promise<Map<number, [bigint, bigint][]>> {
  const out = new Map<number, [bigint, bigint][]>();
  const ttm = roleSql(probes, 'kprobe:try_to_migrate', fileId);
  if (!ttm || !(await db.tables()).includes('migrate_mm_migrate_pages_start')) return out;
  const rows = await db.rows<{ pfn: number | bigint | null; lo: bigint | null; hi: bigint }>(
    `SELECT t.a AS pfn, (SELECT max(e.ts_ns) FROM events e JOIN migrate_mm_migrate_pages_start USING (id) WHERE e.file_id = ${fileId} AND e.tid = t.tid AND e.ts_ns <= t.ts) AS lo, t.ts AS hi FROM (${ttm}) t`,
  );
  for (const r of rows) {
    if (r.pfn === null || r.lo === null) continue;
    // A number, as the replay reads every PFN (events' fields come as doubles).
    const pfn = Number(r.pfn);
    if (!out.has(pfn)) out.set(pfn, []);
    out.get(pfn)!.push([r.lo, r.hi]);
  }
  return out;
}

/**
 * One-page local TLB flushes (TLB_LOCAL_MM_SHOOTDOWN) by the tasks that call
 * make_device_exclusive_range: the walk's clock where no probe shows it. A caller whose mm is not
 * loaded on its CPU (a driver's worker thread) flushes only remotely, and has none.
 */
async function callerFlushes(db: Db, fileId: number, callTable: string): Promise<number> {
  const cols = (await db.columns()).get('tlb_tlb_flush');
  if (!['reason', 'pages'].every((x) => cols?.has(x))) return 0;
  const [{ n }] = await db.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM tlb_tlb_flush t JOIN events e USING (id)
     WHERE e.file_id = ${fileId} AND TRY_CAST(t.reason AS INTEGER) = ${TLB_LOCAL_MM_SHOOTDOWN} AND TRY_CAST(t.pages AS BIGINT) = 1
       AND e.tid IN (SELECT c.tid FROM ${quoteIdent(callTable)} JOIN events c USING (id) WHERE c.file_id = ${fileId})`,
  );
  return Number(n);
}

/** What the device-exclusive verdicts of a file lose to the probes it lacks, for each request's note. */
function missingEvidence(
  probes: Binding[],
  syscallsTraced: boolean,
  uffdWriteProtects: number,
  walkClock: boolean,
): string | null {
  const has = (role: string) => probes.some((b) => b.role === role);
  const lost: string[] = [];
  // The ioctl's range lies in user memory; only a probe or the PROTECTION_VMA notifier shows it.
  if (
    uffdWriteProtects > 0 &&
    !['uffd_wp_range', 'change_protection', 'mmu_notifier_invalidate_range_start'].some((f) =>
      has(`kprobe:${f}`),
    )
  )
    lost.push(
      `${uffdWriteProtects} UFFDIO_WRITEPROTECT ioctls and no uffd_wp_range, change_protection or mmu notifier probe: their write-protections are not applied`,
    );
  if (!has('kretprobe:make_device_exclusive_range'))
    lost.push("no return probe on the call: a call ends at its request's next event");
  if (!has('kprobe:get_user_pages_remote'))
    lost.push("no get_user_pages_remote probe: pages are pinned at the call's entry");
  else if (!has('kretprobe:get_user_pages_remote'))
    lost.push('no get_user_pages_remote return probe: the pinning end is not traced');
  if (!has('kprobe:rmap_walk') && !has('kprobe:page_make_device_exclusive_one'))
    lost.push(
      walkClock
        ? "no rmap_walk or page_make_device_exclusive_one probe: walks are timed by the caller's TLB flush of each page made exclusive (the rest at the call's return), or interpolated between GUP's return and the call's where a call shows none"
        : "no rmap_walk or page_make_device_exclusive_one probe: walk times are interpolated between GUP's return and the call's",
    );
  if (!has('kprobe:folio_add_new_anon_rmap') && !has('kprobe:handle_mm_fault'))
    lost.push(
      "no folio_add_new_anon_rmap or handle_mm_fault probe: GUP's faults are not seen, pin times are interpolated",
    );
  if (!syscallsTraced && !has('kprobe:unmap_page_range'))
    lost.push('no syscall events and no unmap_page_range probe: zaps are not seen');
  return lost.length ? `untraced: ${lost.join('; ')} (mmreplay probes)` : null;
}

/** The kernel version a file's probed functions imply (kernel.ts), when its release is unknown. */
export async function probedVersion(db: Db, fileId: number): Promise<KernelVersion | null> {
  // Bound as 6.12 only to learn the functions (a name by shape or address is not in `probes`).
  const { bound, unbound } = await bindProbes(db, fileId, '6.12', 64);
  return versionForProbedFunctions([
    ...bound.map((b) => b.func),
    ...unbound.flatMap((u) => (u.func ? [u.func] : [])),
  ]);
}
