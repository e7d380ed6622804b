// `mmreplay replay`: streams a file's events in time order through the model and writes the
// reconstructed state into the database.
import fs from 'node:fs';
import { writeAtomically } from '../analysis/atomic.js';
import { Db, sqlFile } from '../analysis/db.js';
import { DatabaseError, ReplayCrash } from '../errors.js';
import { Adapter } from './adapter.js';
import { readEvents } from './input.js';
import { checkInvariants } from './invariants.js';
import { semantics, versionForRelease, type KernelVersion } from './kernel.js';
import type { Design, GupPlan } from './device_exclusive.js';
import { Model } from './model.js';
import { PagingGeometry, type PagingLevels } from './pgtable.js';
import { ReplayWriter } from './output.js';

/** DuckDB's memory limit for the replay's queries, and while the events stream through the model. */
const MEMORY_LIMIT = '2GB';
const STREAM_MEMORY_LIMIT = '64MB';

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
  const [r] = await db.rows<{ path: string; line_no: bigint }>(`SELECT f.path, e.line_no FROM _events e JOIN files f USING (file_id) WHERE e.id = ${eventId}`);
  return r ? `${r.path}:${r.line_no}` : `event ${eventId}`;
}

/**
 * Reads ahead, per get_user_pages_remote call made inside make_device_exclusive_range, its start,
 * its return and the faults it took (folio_add_new_anon_rmap in the same task, by address): the
 * anchors GUP's progress is interpolated between. None of these tell a call's outcome.
 */
async function gupPlans(db: Db, fileId: number): Promise<Map<bigint, GupPlan>> {
  const tables = new Set(await db.tables());
  const plans = new Map<bigint, GupPlan>();
  if (!tables.has('kprobes_mder_get_user_pages_remote') || !tables.has('kprobes_mder_make_device_exclusive_range')) return plans;
  const anon = ['kprobes_mder_folio_add_new_anon_rmap', 'kprobes_mder_page_add_new_anon_rmap']
    .filter((t) => tables.has(t))
    .map((t) => `UNION ALL SELECT e.id, e.ts_ns, e.tid, 'fault', a.address::DOUBLE, NULL FROM events e JOIN ${t} a USING (id) WHERE e.file_id = ${fileId}`)
    .join(' ');
  const rets = tables.has('kprobes_mder_get_user_pages_remote_ret')
    ? `UNION ALL SELECT e.id, e.ts_ns, e.tid, 'ret', NULL, NULL FROM events e JOIN kprobes_mder_get_user_pages_remote_ret USING (id) WHERE e.file_id = ${fileId}`
    : '';
  const rows = await db.rows<{ id: bigint; ts: bigint; tid: number; kind: string; a: number | null; b: number | null }>(
    `SELECT * FROM (
       SELECT e.id, e.ts_ns AS ts, e.tid, 'call' AS kind, c."start"::DOUBLE AS a, c."end"::DOUBLE AS b FROM events e JOIN kprobes_mder_make_device_exclusive_range c USING (id) WHERE e.file_id = ${fileId}
       UNION ALL SELECT e.id, e.ts_ns, e.tid, 'gup', NULL, NULL FROM events e JOIN kprobes_mder_get_user_pages_remote USING (id) WHERE e.file_id = ${fileId}
       ${rets} ${anon}) ORDER BY ts, id`,
  );
  const open = new Map<number, { start: number; end: number; plan: GupPlan | null }>();
  for (const r of rows) {
    const o = open.get(r.tid);
    if (r.kind === 'call') open.set(r.tid, { start: r.a!, end: r.b!, plan: null });
    else if (r.kind === 'gup' && o && !o.plan) {
      o.plan = { start: r.ts, end: null, npages: Math.round((o.end - o.start) / 4096), faults: [], faultsTraced: anon !== '' };
      plans.set(r.id, o.plan);
    } else if (r.kind === 'fault' && o?.plan && o.plan.end === null) o.plan.faults.push({ index: Math.floor((r.a! - o.start) / 4096), ts: r.ts });
    else if (r.kind === 'ret' && o?.plan && o.plan.end === null) o.plan.end = r.ts;
  }
  return plans;
}

/** Replays every file of the database; the tables are written into a copy renamed over it on success. */
export async function replay(dbFile: string, opts: ReplayOptions = {}): Promise<ReplaySummary[]> {
  if (!fs.existsSync(dbFile)) throw new DatabaseError(dbFile, 'no such database; replay a trace, or ingest it first');
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
    await db.run(`SET memory_limit = '${MEMORY_LIMIT}'; SET threads = 1; SET preserve_insertion_order = true`);
    await db.run(sqlFile('replay.sql'));
    await db.run(sqlFile('exclusive.sql'));
    await db.run(sqlFile('exclusive_views.sql'));
    const files = await db.rows<{ file_id: number; metadata: string }>('SELECT file_id, metadata FROM files ORDER BY file_id');
    const out: ReplaySummary[] = [];
    for (const f of files) {
      const meta = JSON.parse(f.metadata ?? '{}');
      const kernel = opts.kernel ?? versionForRelease(meta.recorded?.kernel_release ?? meta.kernel_release ?? meta.kernel);
      const designs = opts.designs?.length ? opts.designs : [semantics(kernel).deviceExclusive];
      const structPage = Number(meta.struct_page_size ?? 64);
      const levels: PagingLevels = opts.levels ?? (meta.paging_levels === 5 ? 5 : 4);
      for (const [i, design] of designs.entries()) out.push(await replayFile(db, f.file_id, kernel, design, i === 0, { ...opts, levels }, structPage));
    }
    // Culprits' tasks and times, from the events that did it.
    await db.run(`UPDATE exclusive_pages p SET culprit_tid = e.tid, culprit_ts = e.ts_ns FROM events e WHERE e.id = p.culprit_event`);
    return out;
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
  const w = await ReplayWriter.open(db);
  w.fileId = fileId;
  w.design = design;
  w.full = full;
  const m = new Model(semantics(kernel), w, new PagingGeometry(opts.levels ?? 4));
  const [{ allocs }] = await db.rows<{ allocs: bigint }>(`SELECT count(*) AS allocs FROM events WHERE file_id = ${fileId} AND event = 'kmem:mm_page_alloc'`);
  const tables = new Set(await db.tables());
  // A machine swaps if any process's swap-entry count rose above zero in the trace.
  m.swapOn =
    tables.has('kmem_rss_stat') &&
    (await db.rows(`SELECT 1 FROM kmem_rss_stat JOIN events USING (id) WHERE file_id = ${fileId} AND member = 2 AND size > 0 LIMIT 1`)).length > 0;
  const copyTraced = tables.has('kprobes_mder_copy_page_range') && (await db.rows(`SELECT column_name FROM information_schema.columns WHERE table_name = 'kprobes_mder_copy_page_range' AND column_name IN ('src_start', 'src_end')`)).length === 2;
  // Only make_device_exclusive_range's calls read who unmapped a page (culprits, GUP's passes).
  m.trackUnmaps =
    (await db.rows(`SELECT 1 FROM events WHERE file_id = ${fileId} AND event IN ('kprobes:mder_make_device_exclusive_range', 'kprobes:mder_make_device_exclusive') LIMIT 1`)).length > 0;
  const adapter = new Adapter(m, w, { thp: opts.thp ?? 'madvise', allocsTraced: allocs > 0n, kernelFaultsTraced: tables.has('exceptions_page_fault_kernel'), design, copyPageRangeTraced: copyTraced });
  adapter.dx?.setGupPlans(await gupPlans(db, fileId));
  // Events within 50 ms after a lost-events marker are labelled as such when they break invariants.
  const losses = (await db.rows<{ ts: bigint | null }>(`SELECT ts_ns AS ts FROM lost_events WHERE file_id = ${fileId} ORDER BY ts_ns NULLS FIRST`)).map((r) => r.ts);
  const LOSS_WINDOW = 50_000_000n;
  let lossIdx = 0;
  let firstTs: bigint | null = null;
  let n = 0;
  const pidFilter = opts.pid;
  let streaming = false;
  for await (const batch of readEvents(db, fileId, opts, structPage)) {
    if (!streaming) {
      // The input's own queries have run; from here DuckDB scans and appends. The output tables'
      // blocks, once written, are dropped from the buffer pool instead of cached, which would grow
      // it with the trace.
      await db.run(`SET memory_limit = '${STREAM_MEMORY_LIMIT}'`);
      streaming = true;
    }
    for (const e of batch) {
      if (pidFilter !== undefined) {
        const t = m.tasks.get(e.tid);
        if (e.tid !== pidFilter && e.tgid !== pidFilter && t?.tgid !== pidFilter && e.event !== 'task:task_newtask') continue;
      }
      firstTs ??= e.ts;
      m.now = w.now = e.ts;
      m.eventId = w.eventId = e.id;
      m.tid = e.tid;
      while (lossIdx < losses.length && (losses[lossIdx] ?? firstTs) + LOSS_WINDOW < e.ts) lossIdx++;
      m.nearLoss = lossIdx < losses.length && (losses[lossIdx] ?? firstTs) <= e.ts;
      try {
        adapter.handle(e);
        checkInvariants(m);
      } catch (err) {
        throw new ReplayCrash(await whereIs(db, e.id), e.event, err);
      }
      n++;
    }
    opts.onProgress?.({ fileId, events: n });
  }
  if (streaming) await db.run(`SET memory_limit = '${MEMORY_LIMIT}'`);
  adapter.flush();
  if (full) opts.inspect?.(m, adapter);
  const end = m.now;
  for (const mm of m.mms) {
    for (const [vpn, p] of mm.ptes) w.pte(mm, vpn, p, end);
    for (const v of mm.vmas) w.vma(mm, v, end);
    w.mm([fileId, mm.id, mm.tgid, mm.mmId, mm.start, mm.preTrace]);
  }
  for (const f of m.folios.values()) if (!f.zero) w.folio(f, end);
  for (const f of m.parkedFolios()) w.folio(f, end);
  for (const t of m.tasks.values()) w.task(t);
  w.close();
  // Rows of state the model stopped following before the end (forgetFolio) run to the end.
  if (full) await db.run(`UPDATE folio_intervals SET dur = ${end} - ts WHERE file_id = ${fileId} AND dur IS NULL`);
  const seconds = (performance.now() - t0) / 1000;
  if (full) await db.run(`INSERT INTO replay_runs VALUES (${fileId}, '${kernel}', '${design}', ${m.geo.levels}, ${n}, ${seconds}, ${firstTs ?? 'NULL'}, ${firstTs === null ? 'NULL' : end})`);
  const sk = adapter.skipped;
  const firstSkipped = sk.first ? `${await whereIs(db, sk.first.eventId)}: ${sk.first.why}` : null;
  return { fileId, kernel, design, events: n, seconds, violations: w.violations, skipped: sk.count, firstSkipped };
}
