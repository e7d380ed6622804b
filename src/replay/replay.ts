// `mmreplay replay`: streams a file's events in time order through the model and writes the
// reconstructed state into the database.
import fs from 'node:fs';
import { writeAtomically } from '../store/atomic.js';
import { Db, quoteString, sqlFile } from '../store/db.js';
import { DatabaseError, ReplayCrash } from '../errors.js';
import { Adapter, type ReplayEvent } from './adapter.js';
import { eventAt, planInput } from './input.js';
import { checkInvariants } from './invariants.js';
import {
  semantics,
  versionForProbedFunctions,
  versionForRelease,
  type KernelVersion,
} from './kernel.js';
import type { Design } from './device_exclusive.js';
import { anchorPlan } from './gup-plans.js';
import { Model } from './model.js';
import { PagingGeometry, type PagingLevels } from './pgtable.js';
import { bindProbes, roleSql, type Binding } from './probes.js';
import { ReplayWriter } from './output.js';
import { InlineIo, WorkerIo, type ReplayIo } from './replay-io.js';

/** DuckDB's memory limit for the replay's queries, and while the events stream through the model. */
const MEMORY_LIMIT = '2GB';
/** The replay's settings: one DuckDB thread, scans in insertion order (see input.ts). */
const SETTINGS = 'SET threads = 1; SET preserve_insertion_order = true';
/** From this many events on, a file's input and appends run on a worker thread (replay-io.ts). */
const WORKER_MIN_EVENTS = 200_000;

export interface ReplayOptions {
  kernel?: KernelVersion;
  /** Device-exclusive designs; the first is the trace's own (all tables), the rest counterfactual. */
  designs?: Design[];
  pid?: number;
  fromNs?: bigint;
  toNs?: bigint;
  thp?: 'always' | 'madvise' | 'never';
  /** Paging levels of the traced machine: 5 with LA57 (default: the recording's, else 4). */
  levels?: PagingLevels;
  onProgress?: (p: { fileId: number; events: number }) => void;
  /**
   * Where DuckDB's reads and appends run while events stream: `worker`, a worker thread (a
   * database file only), `inline`, the model's; `auto` (default): the worker from
   * WORKER_MIN_EVENTS events on. MMREPLAY_REPLAY_IO sets the default.
   */
  io?: 'auto' | 'worker' | 'inline';
  /** Sees the model's state once a file's events are replayed (tests). */
  inspect?: (m: Model, adapter: Adapter) => void;
}

export interface ReplaySummary {
  fileId: number;
  kernel: KernelVersion;
  design: Design;
  events: number;
  seconds: number;
  violations: number;
  /** Events the model could not use (damaged fields, cut markers), and where the first one is. */
  skipped: number;
  firstSkipped: string | null;
}

/** `path:line` of an event. */
async function whereIs(db: Db, eventId: bigint): Promise<string> {
  const [r] = await db.rows<{ path: string; line_no: bigint }>(
    `SELECT f.path, e.line_no FROM _events e JOIN files f USING (file_id) WHERE e.id = ${eventId}`,
  );
  return r ? `${r.path}:${r.line_no}` : `event ${eventId}`;
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
): Promise<Map<bigint, [bigint, bigint][]>> {
  const out = new Map<bigint, [bigint, bigint][]>();
  const ttm = roleSql(probes, 'kprobe:try_to_migrate', fileId);
  if (!ttm || !(await db.tables()).includes('migrate_mm_migrate_pages_start')) return out;
  const rows = await db.rows<{ pfn: number | null; lo: bigint | null; hi: bigint }>(
    `SELECT t.a AS pfn, (SELECT max(e.ts_ns) FROM events e JOIN migrate_mm_migrate_pages_start USING (id) WHERE e.file_id = ${fileId} AND e.tid = t.tid AND e.ts_ns <= t.ts) AS lo, t.ts AS hi FROM (${ttm}) t`,
  );
  for (const r of rows) {
    if (r.pfn === null || r.lo === null) continue;
    const pfn = BigInt(r.pfn);
    if (!out.has(pfn)) out.set(pfn, []);
    out.get(pfn)!.push([r.lo, r.hi]);
  }
  return out;
}

/** What the device-exclusive verdicts of a file lose to the probes it lacks, for each request's note. */
function missingEvidence(probes: Binding[], syscallsTraced: boolean): string | null {
  const has = (role: string) => probes.some((b) => b.role === role);
  const lost: string[] = [];
  if (!has('kretprobe:make_device_exclusive_range'))
    lost.push("no return probe on the call: a call ends at its request's next event");
  if (!has('kprobe:get_user_pages_remote'))
    lost.push("no get_user_pages_remote probe: pages are pinned at the call's entry");
  else if (!has('kretprobe:get_user_pages_remote'))
    lost.push('no get_user_pages_remote return probe: the pinning end is not traced');
  if (!has('kprobe:rmap_walk') && !has('kprobe:page_make_device_exclusive_one'))
    lost.push(
      "no rmap_walk or page_make_device_exclusive_one probe: walk times are interpolated between GUP's return and the call's",
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
async function probedVersion(db: Db, fileId: number): Promise<KernelVersion | null> {
  // Bound as 6.12 only to learn the functions (a name by shape or address is not in `probes`).
  const { bound, unbound } = await bindProbes(db, fileId, '6.12', 64);
  return versionForProbedFunctions([
    ...bound.map((b) => b.func),
    ...unbound.flatMap((u) => (u.func ? [u.func] : [])),
  ]);
}

/** Replays every file of the database; the tables are written into a copy renamed over it on success. */
export async function replay(dbFile: string, opts: ReplayOptions = {}): Promise<ReplaySummary[]> {
  if (!fs.existsSync(dbFile))
    throw new DatabaseError(dbFile, 'no such database; replay a trace, or ingest it first');
  return writeAtomically(dbFile, { copy: true }, async (file) => {
    const db = await Db.open(file, { as: dbFile });
    try {
      return await replayDb(db, opts);
    } finally {
      db.close();
    }
  });
}

/** Replays an open database in place (`replay` gives it a copy). */
export async function replayDb(db: Db, opts: ReplayOptions = {}): Promise<ReplaySummary[]> {
  await db.requireOurs();
  {
    // The input is read in insertion order (see input.ts), never sorted.
    await db.run(`SET memory_limit = '${MEMORY_LIMIT}'; ${SETTINGS}`);
    await db.run(sqlFile('replay.sql'));
    await db.run(sqlFile('exclusive.sql'));
    await db.run(sqlFile('exclusive_views.sql'));
    const files = await db.rows<{ file_id: number; metadata: string }>(
      'SELECT file_id, metadata FROM files ORDER BY file_id',
    );
    const out: ReplaySummary[] = [];
    for (const f of files) {
      const meta = JSON.parse(f.metadata ?? '{}');
      const release = meta.recorded?.kernel_release ?? meta.kernel_release ?? meta.kernel;
      const kernel =
        opts.kernel ??
        (release
          ? versionForRelease(release)
          : ((await probedVersion(db, f.file_id)) ?? versionForRelease(undefined)));
      const designs = opts.designs?.length ? opts.designs : [semantics(kernel).deviceExclusive];
      const structPage = Number(meta.struct_page_size ?? 64);
      const levels: PagingLevels = opts.levels ?? (meta.paging_levels === 5 ? 5 : 4);
      for (const [i, design] of designs.entries())
        out.push(
          await replayFile(db, f.file_id, kernel, design, i === 0, { ...opts, levels }, structPage),
        );
    }
    // Culprits' tasks and times, from the events that did it.
    await db.run(
      `UPDATE exclusive_pages p SET culprit_tid = e.tid, culprit_ts = e.ts_ns FROM events e WHERE e.id = p.culprit_event`,
    );
    await dropContradictedArrays(db);
    return out;
  }
}

/**
 * A file whose kretprobe page arrays say every page of a call failed while the ioctl returned 0 for
 * its request cannot be read for page verdicts: trace-cmd report (3.1.x) prints the lab's
 * `u64 pages[]` array (size 512 at offset 36) as all zeros. Its observed page columns are cleared.
 */
async function dropContradictedArrays(db: Db): Promise<void> {
  const bad = await db.rows<{ file_id: number }>(
    `SELECT DISTINCT c.file_id FROM exclusive_calls c JOIN exclusive_requests r USING (file_id, design, request_id)
     WHERE r.observed_result = 0 AND c.observed_result = c.npages AND c.observed_failed_pages = c.npages`,
  );
  for (const { file_id } of bad) {
    await db.run(`UPDATE exclusive_pages SET observed_outcome = NULL WHERE file_id = ${file_id}`);
    await db.run(
      `UPDATE exclusive_calls SET observed_failed_pages = NULL WHERE file_id = ${file_id}`,
    );
  }
}

async function replayFile(
  db: Db,
  fileId: number,
  kernel: KernelVersion,
  design: Design,
  full: boolean,
  opts: ReplayOptions,
  structPage: number,
): Promise<ReplaySummary> {
  const t0 = performance.now();
  const w = new ReplayWriter();
  w.fileId = fileId;
  w.design = design;
  w.full = full;
  const m = new Model(semantics(kernel), w, new PagingGeometry(opts.levels ?? 4));
  const [{ allocs }] = await db.rows<{ allocs: bigint }>(
    `SELECT count(*) AS allocs FROM events WHERE file_id = ${fileId} AND event = 'kmem:mm_page_alloc'`,
  );
  const tables = new Set(await db.tables());
  // A machine swaps if any process's swap-entry count rose above zero in the trace, or the trace
  // shows a page written to swap (vmscan's write tracepoint, a swap_writepage kprobe).
  const swapEvidence = [
    tables.has('kmem_rss_stat')
      ? `SELECT 1 FROM kmem_rss_stat JOIN events USING (id) WHERE file_id = ${fileId} AND member = 2 AND size > 0`
      : null,
    `SELECT 1 FROM events WHERE file_id = ${fileId} AND event = 'vmscan:mm_vmscan_write_folio'`,
    tables.has('probes')
      ? `SELECT 1 FROM probes WHERE file_id = ${fileId} AND func = 'swap_writepage'`
      : null,
  ].filter((q) => q !== null);
  m.swapOn =
    (await db.rows(`SELECT 1 FROM (${swapEvidence.join(' UNION ALL ')}) LIMIT 1`)).length > 0;
  const { bound: probes } = await bindProbes(db, fileId, kernel, structPage);
  const copy = probes.find((b) => b.role === 'kprobe:copy_page_range');
  const copyTraced = copy !== undefined && copy.nums.every((x) => x !== '');
  // Only make_device_exclusive_range's calls read who unmapped a page (culprits, GUP's passes).
  const call = probes.find((b) => b.role === 'kprobe:make_device_exclusive_range');
  m.trackUnmaps =
    call !== undefined &&
    (
      await db.rows(
        `SELECT 1 FROM events WHERE file_id = ${fileId} AND event = ${quoteString(call.event)} LIMIT 1`,
      )
    ).length > 0;
  const syscallsTraced =
    (
      await db.rows(
        `SELECT 1 FROM _events JOIN _event_names USING (event_id) WHERE file_id = ${fileId} AND event LIKE 'syscalls:%' LIMIT 1`,
      )
    ).length > 0;
  const uffdTraced = probes.some(
    (b) =>
      (b.role === 'kprobe:uffd_wp_range' || b.role === 'kprobe:change_protection') &&
      b.nums.every((x) => x !== ''),
  );
  const adapter = new Adapter(m, w, {
    thp: opts.thp ?? 'madvise',
    allocsTraced: allocs > 0n,
    kernelFaultsTraced: tables.has('exceptions_page_fault_kernel'),
    design,
    copyPageRangeTraced: copyTraced,
    syscallsTraced,
    uffdTraced,
    newTaskTraced: tables.has('task_task_newtask'),
    folioUnlockTraced: probes.some((b) => b.role === 'kprobe:folio_unlock' && b.nums[0] !== ''),
    changeProtectionTraced: probes.some(
      (b) => b.role === 'kprobe:change_protection' && b.nums.every((n) => n !== ''),
    ),
    protectionNotifierTraced: probes.some(
      (b) =>
        b.role === 'kprobe:mmu_notifier_invalidate_range_start' && b.nums.every((n) => n !== ''),
    ),
  });
  if (adapter.dx) adapter.dx.migrationLocks = await migrationLocks(db, fileId, probes);
  if (adapter.dx) {
    adapter.dx.rmapWalkTraced = probes.some((b) => b.role === 'kprobe:rmap_walk');
    adapter.dx.mappingTraced = probes.some(
      (b) => b.role === 'kprobe:page_make_device_exclusive_one',
    );
    adapter.dx.walkUntraced = !adapter.dx.rmapWalkTraced && !adapter.dx.mappingTraced;
    adapter.dx.missingEvidence = missingEvidence(probes, syscallsTraced);
    adapter.dx.unlockTraced = probes.some(
      (b) => b.role === 'kprobe:folio_unlock' && b.nums[0] !== '',
    );
    adapter.dx.notifierTraced = probes.some(
      (b) =>
        b.role === 'kprobe:mmu_notifier_invalidate_range_start' &&
        b.nums[0] !== '' &&
        b.nums[1] !== '',
    );
    adapter.dx.swapTraced = probes.some(
      (b) => b.role === 'kprobe:do_swap_page' && b.nums[0] !== '',
    );
  }
  // Events within 50 ms after a lost-events marker are labelled as such when they break invariants.
  const losses = (
    await db.rows<{ ts: bigint | null }>(
      `SELECT ts_ns AS ts FROM lost_events WHERE file_id = ${fileId} ORDER BY ts_ns NULLS FIRST`,
    )
  ).map((r) => r.ts);
  const LOSS_WINDOW = 50_000_000n;
  let lossIdx = 0;
  let firstTs: bigint | null = null;
  let n = 0;
  const pidFilter = opts.pid;
  const plan = await planInput(db, fileId, { ...opts, probes });
  // GUP plans are read from the whole file: a GUP near a --from/--to edge keeps its anchors.
  const whole =
    opts.fromNs === undefined && opts.toNs === undefined
      ? plan
      : await planInput(db, fileId, { probes });
  const anchors = adapter.dx && whole ? anchorPlan(whole, probes) : null;
  const mode = opts.io ?? (process.env.MMREPLAY_REPLAY_IO as ReplayOptions['io']) ?? 'auto';
  const file = db.fileForHandoff;
  const io: ReplayIo =
    file !== null &&
    plan !== null &&
    (mode === 'worker' || (mode === 'auto' && plan.count >= WORKER_MIN_EVENTS))
      ? await WorkerIo.open(db, file, plan, anchors, SETTINGS)
      : await InlineIo.open(db, plan, anchors);
  w.attach(io.tables);
  let crash: { e: ReplayEvent; err: unknown } | null = null;
  try {
    stream: for (;;) {
      const batch = await io.next();
      if (batch.n === 0) break;
      adapter.dx?.setGupPlans(io.plans);
      for (let i = 0; i < batch.n; i++) {
        const e = eventAt(batch, i, plan!);
        if (pidFilter !== undefined) {
          const t = m.tasks.get(e.tid);
          if (
            e.tid !== pidFilter &&
            e.tgid !== pidFilter &&
            t?.tgid !== pidFilter &&
            e.event !== 'task:task_newtask'
          )
            continue;
        }
        firstTs ??= e.ts;
        m.now = w.now = e.ts;
        m.eventId = w.eventId = e.id;
        m.tid = e.tid;
        while (lossIdx < losses.length && (losses[lossIdx] ?? firstTs) + LOSS_WINDOW < e.ts)
          lossIdx++;
        m.nearLoss = lossIdx < losses.length && (losses[lossIdx] ?? firstTs) <= e.ts;
        try {
          adapter.handle(e);
          checkInvariants(m);
        } catch (err) {
          crash = { e, err };
          break stream;
        }
        n++;
      }
      opts.onProgress?.({ fileId, events: n });
      await io.drain();
    }
    if (!crash) {
      adapter.flush();
      if (full) opts.inspect?.(m, adapter);
      const end = m.now;
      for (const mm of m.mms) {
        for (const [vpn, p] of mm.ptes) w.pte(mm, vpn, p, end);
        for (const v of mm.vmas) w.vma(mm, v, end);
        w.mm({
          file_id: fileId,
          mm: mm.id,
          tgid: mm.tgid,
          mm_id: mm.mmId,
          first_ts: mm.start,
          pre_trace: mm.preTrace,
        });
      }
      for (const f of m.folios.values()) if (!f.zero) w.folio(f, end);
      for (const f of m.parkedFolios()) w.folio(f, end);
      for (const t of m.tasks.values()) w.task(t);
      w.close();
    }
  } catch (err) {
    await io.abort();
    throw err;
  }
  if (crash) await io.abort();
  else await io.close();
  await db.run(`SET memory_limit = '${MEMORY_LIMIT}'; ${SETTINGS}`);
  if (crash) throw new ReplayCrash(await whereIs(db, crash.e.id), crash.e.event, crash.err);
  const end = m.now;
  // Rows of state the model stopped following before the end (forgetFolio) run to the end.
  if (full)
    await db.run(
      `UPDATE folio_intervals SET dur = ${end} - ts WHERE file_id = ${fileId} AND dur IS NULL`,
    );
  const seconds = (performance.now() - t0) / 1000;
  if (full)
    await db.run(
      `INSERT INTO replay_runs VALUES (${fileId}, '${kernel}', '${design}', ${m.geo.levels}, ${n}, ${seconds}, ${firstTs ?? 'NULL'}, ${firstTs === null ? 'NULL' : end})`,
    );
  const sk = adapter.skipped;
  const firstSkipped = sk.first ? `${await whereIs(db, sk.first.eventId)}: ${sk.first.why}` : null;
  return {
    fileId,
    kernel,
    design,
    events: n,
    seconds,
    violations: w.violations,
    skipped: sk.count,
    firstSkipped,
  };
}
