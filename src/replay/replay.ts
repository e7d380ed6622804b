// `mmreplay replay`: streams a file's events in time order through the model and writes the
// reconstructed state into the database.
import { Db, quoteIdent } from '../analysis/db.js';
import { sqlFile } from '../analysis/db.js';
import { Adapter, type ReplayEvent } from './adapter.js';
import { checkInvariants } from './invariants.js';
import { semantics, versionForRelease, type KernelVersion } from './kernel.js';
import type { Design, GupPlan } from './device_exclusive.js';
import { Model } from './model.js';
import { PagingGeometry, type PagingLevels } from './pgtable.js';
import { ReplayWriter } from './output.js';

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
}

export interface ReplaySummary {
  fileId: number;
  kernel: KernelVersion;
  design: Design;
  events: number;
  seconds: number;
  violations: number;
}

/** Which columns of each typed table feed the six numeric slots (a..f) and the string slot (s). */
const PROJECTIONS: Record<string, { nums: string[]; s?: string }> = {
  'exceptions:page_fault_user': { nums: ['address', 'error_code', 'ip'] },
  'exceptions:page_fault_kernel': { nums: ['address', 'error_code', 'ip'] },
  'kmem:mm_page_alloc': { nums: ['pfn', '"order"'], s: 'gfp_flags' },
  'kmem:mm_page_free': { nums: ['pfn', '"order"'] },
  'kmem:rss_stat': { nums: ['mm_id', 'member', 'size'] },
  'pagemap:mm_lru_insertion': { nums: ['pfn', 'lru'] },
  'task:task_newtask': { nums: ['pid', 'clone_flags'], s: 'comm' },
  'sched:sched_process_exec': { nums: ['pid', 'old_pid'], s: 'filename' },
  'sched:sched_process_exit': { nums: ['pid'] },
  'migrate:set_migration_pte': { nums: ['addr', 'pte', '"order"'] },
  'migrate:remove_migration_pte': { nums: ['addr', 'pte', '"order"'] },
  'huge_memory:mm_collapse_huge_page_isolate': { nums: ['pfn'], s: 'status_name' },
  'ksm:ksm_merge_with_ksm_page': { nums: ['pfn', 'err', 'ksm_page'] },
  'ftrace:print': { nums: [], s: 'buf' },
  'mmap_lock:mmap_lock_acquire_returned': { nums: ['"write"::INTEGER', 'success::INTEGER'] },
  // The device-exclusive kprobes (traces/lab, `record -e device-exclusive`); struct page / folio
  // pointers become PFNs (vmemmap with 64-byte struct page, 5- or 4-level base, KASLR off).
  'kprobes:mder_make_device_exclusive_range': { nums: ['"start"', '"end"'] },
  'kprobes:mder_make_device_exclusive_range_ret': { nums: ['ret', '"start"'], s: 'pages' },
  'kprobes:mder_make_device_exclusive': { nums: ['addr', 'addr + 4096'] },
  'kprobes:mder_make_device_exclusive_ret': { nums: ['CASE WHEN ret > 18446744073709547520 THEN -1 ELSE 1 END', 'addr'] },
  'kprobes:mder_get_user_pages_remote': { nums: ['"start"', 'nr_pages', 'gup_flags'] },
  'kprobes:mder_get_user_pages_remote_ret': { nums: ['ret', '"start"', 'nr_pages'] },
  'kprobes:mder_rmap_walk': { nums: ['PFN(folio)'] },
  'kprobes:mder_folio_add_new_anon_rmap': { nums: ['PFN(folio)', 'address'] },
  // 6.1 names it after the page (mm/rmap.c page_add_new_anon_rmap).
  'kprobes:mder_page_add_new_anon_rmap': { nums: ['PFN(page)', 'address'] },
  'kprobes:mder_copy_page_range': { nums: ['src_start', 'src_end'] },
};

const VMEMMAP_5LEVEL = 0xffd4000000000000n; // __VMEMMAP_BASE_L5
const VMEMMAP_4LEVEL = 0xffffea0000000000n; // __VMEMMAP_BASE_L4
const pfnSql = (col: string, pageSize: number) =>
  `CASE WHEN ${col} >= ${VMEMMAP_4LEVEL} THEN (${col} - ${VMEMMAP_4LEVEL}) // ${pageSize} WHEN ${col} >= ${VMEMMAP_5LEVEL} THEN (${col} - ${VMEMMAP_5LEVEL}) // ${pageSize} END`;

const SYSCALL_ARGS: Record<string, string[]> = {
  mmap: ['addr', 'len', 'prot', 'flags', 'fd', '"off"'],
  munmap: ['addr', 'len'],
  mprotect: ['"start"', 'len', 'prot'],
  madvise: ['"start"', 'len_in', 'behavior'],
  mremap: ['addr', 'old_len', 'new_len', 'flags', 'new_addr'],
  brk: ['brk'],
  clone: ['clone_flags'],
  ioctl: ['fd', 'cmd', 'arg'],
};

/**
 * The replay's input: every event the model uses, in time order, with its fields in numeric slots.
 * Each typed table is joined with `events` on its own (a small hash-join build each), so memory
 * does not grow with the whole trace; DuckDB spills the final sort.
 */
async function projectionSql(db: Db, fileId: number, o: ReplayOptions, structPage: number): Promise<string> {
  const tables = new Set(await db.tables());
  const slot = (nums: string[], s?: string) =>
    ['a', 'b', 'c', 'd', 'e', 'f']
      .map((n, i) => `${nums[i] ? `TRY_CAST(${nums[i].replace(/^PFN\((\w+)\)$/, (_m, c) => pfnSql(c, structPage))} AS DOUBLE)` : 'NULL::DOUBLE'} AS ${n}`)
      .join(', ') + `, ${s ? `${s}::VARCHAR` : 'NULL::VARCHAR'} AS s`;
  const where = [`e.file_id = ${fileId}`];
  if (o.fromNs !== undefined) where.push(`e.ts_ns >= ${o.fromNs}`);
  if (o.toNs !== undefined) where.push(`e.ts_ns <= ${o.toNs}`);
  const cols = 'e.id, e.ts_ns, e.cpu, e.tid, e.tgid, e.comm, e.event';
  const parts: string[] = [];
  const typed = (table: string, fields: string) =>
    parts.push(`SELECT ${cols}, x.a, x.b, x.c, x.d, x.e, x.f, x.s FROM events e JOIN (SELECT id, ${fields} FROM ${quoteIdent(table)}) x USING (id) WHERE ${where.join(' AND ')}`);
  const columns = new Map<string, Set<string>>();
  for (const r of await db.rows<{ t: string; c: string }>(`SELECT table_name t, column_name c FROM information_schema.columns`)) {
    if (!columns.has(r.t)) columns.set(r.t, new Set());
    columns.get(r.t)!.add(r.c);
  }
  // A field the kernel's probe does not fetch (6.1 return probes carry no $argN) reads as NULL.
  const has = (t: string, expr: string) => {
    const col = /^PFN\((\w+)\)$/.exec(expr)?.[1] ?? /^"?(\w+)"?/.exec(expr.replace(/^CASE WHEN /, ''))?.[1];
    return !col || columns.get(t)?.has(col) !== false;
  };
  for (const [ev, p] of Object.entries(PROJECTIONS)) {
    const t = ev.replace(/[^A-Za-z0-9_]+/g, '_');
    if (tables.has(t)) typed(t, slot(p.nums.map((x) => (has(t, x) ? x : '')), p.s && has(t, p.s) ? p.s : undefined));
  }
  for (const t of tables) {
    const m = /^syscalls_sys_(enter|exit)_(\w+)$/.exec(t);
    if (m) typed(t, slot(m[1] === 'exit' ? ['ret'] : (SYSCALL_ARGS[m[2]] ?? [])));
  }
  const untyped = ['sched:sched_process_fork', 'sched:sched_process_free', 'kprobes:mder_mmu_notifier_invalidate_range_start', 'kprobes:mder_unmap_page_range', 'kprobes:mder_vmalloc_ret'];
  parts.push(`SELECT ${cols}, ${slot([])} FROM events e WHERE ${where.join(' AND ')} AND e.event IN (${untyped.map((x) => `'${x}'`).join(', ')})`);
  return `SELECT * FROM (${parts.join(' UNION ALL ')}) ORDER BY ts_ns, id`;
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

export async function replay(dbFile: string, opts: ReplayOptions = {}): Promise<ReplaySummary[]> {
  const db = await Db.open(dbFile);
  const reader = await db.instance.connect();
  try {
    // The time-ordered read sorts every event: let DuckDB spill rather than hold it all.
    await db.run(`SET memory_limit = '2GB'; SET threads = 1; SET preserve_insertion_order = false`);
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
      for (const [i, design] of designs.entries()) out.push(await replayFile(db, reader, f.file_id, kernel, design, i === 0, { ...opts, levels }, structPage));
    }
    // Culprits' tasks and times, from the events that did it.
    await db.run(`UPDATE exclusive_pages p SET culprit_tid = e.tid, culprit_ts = e.ts_ns FROM events e WHERE e.id = p.culprit_event`);
    return out;
  } finally {
    reader.closeSync();
    db.close();
  }
}

async function replayFile(
  db: Db,
  reader: Awaited<ReturnType<Db['instance']['connect']>>,
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
  const adapter = new Adapter(m, w, { thp: opts.thp ?? 'madvise', allocsTraced: allocs > 0n, kernelFaultsTraced: tables.has('exceptions_page_fault_kernel'), design, copyPageRangeTraced: copyTraced });
  adapter.dx?.setGupPlans(await gupPlans(db, fileId));
  // Events within 50 ms after a lost-events marker are labelled as such when they break invariants.
  const losses = (await db.rows<{ ts: bigint | null }>(`SELECT ts_ns AS ts FROM lost_events WHERE file_id = ${fileId} ORDER BY ts_ns NULLS FIRST`)).map((r) => r.ts);
  const LOSS_WINDOW = 50_000_000n;
  let lossIdx = 0;
  let firstTs: bigint | null = null;
  const res = await reader.stream(await projectionSql(db, fileId, opts, structPage));
  let n = 0;
  const pidFilter = opts.pid;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const cols = chunk.getColumns();
    const rows = chunk.rowCount;
    for (let i = 0; i < rows; i++) {
      const e: ReplayEvent = {
        id: cols[0][i] as bigint,
        ts: cols[1][i] as bigint,
        cpu: cols[2][i] as number,
        tid: cols[3][i] as number,
        tgid: cols[4][i] as number | null,
        comm: cols[5][i] as string,
        event: cols[6][i] as string,
        a: cols[7][i] as number | null,
        b: cols[8][i] as number | null,
        c: cols[9][i] as number | null,
        d: cols[10][i] as number | null,
        e: cols[11][i] as number | null,
        f: cols[12][i] as number | null,
        s: cols[13][i] as string | null,
      };
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
      adapter.handle(e);
      checkInvariants(m);
      n++;
    }
    opts.onProgress?.({ fileId, events: n });
  }
  adapter.flush();
  const end = m.now;
  for (const mm of m.mms) {
    for (const [vpn, p] of mm.ptes) w.pte(mm, vpn, p, end);
    for (const v of mm.vmas) w.vma(mm, v, end);
    w.mm([fileId, mm.id, mm.tgid, mm.mmId, mm.start, mm.preTrace]);
  }
  for (const f of m.folios.values()) if (!f.zero) w.folio(f, end);
  for (const t of m.tasks.values()) w.task([fileId, t.tid, t.tgid, t.mm?.id ?? null, t.comm, t.first, t.last, t.preTrace]);
  w.close();
  const seconds = (performance.now() - t0) / 1000;
  if (full) await db.run(`INSERT INTO replay_runs VALUES (${fileId}, '${kernel}', '${design}', ${m.geo.levels}, ${n}, ${seconds}, ${firstTs ?? 'NULL'}, ${firstTs === null ? 'NULL' : end})`);
  return { fileId, kernel, design, events: n, seconds, violations: w.violations };
}
