// Which function an unnamed probe probes, read off when and with what it fires. A trace-cmd report
// prints kprobes as addresses; where only make_device_exclusive_range is named (by the page array
// its return prints), the probes that fire inside its calls, on the calling thread, are told apart
// by what the kernel does there (mm/rmap.c, 5.14-6.14): get_user_pages_remote once per call,
// before anything else the call probes; then, per page, rmap_walk (a folio, no user address) and
// page_make_device_exclusive_one (a folio and the page's user address). And handle_mm_fault, which
// every user fault (exceptions:page_fault_user) enters on its thread right after, at its address.
// And the userfaultfd write-protection inside UFFDIO_WRITEPROTECT ioctls: change_protection(tlb,
// vma, start, end, cp_flags), whose end lies above its start, or mwriteprotect_range(ctx, start,
// len, mode). And __mmu_notifier_invalidate_range_start, which page_make_device_exclusive_one
// calls at once with a range from its address (nameNotifier), and folio_unlock, which the thread
// calls on each folio it walked, soon after (nameUnlock); try_to_merge_one_page, on ksmd with a
// page. A role with more than one candidate names none.
import type { Db } from '../store/db.js';
import { quoteIdent, quoteString } from '../store/quote.js';
import { tableOf, type ProbeRow } from './probe_names.js';
import { UFFDIO_WRITEPROTECT } from './userfaultfd.js';
import { unsignedSql, VMEMMAP_SPAN } from './vmemmap.js';

/** Share of a probe's events inside calls, on the calling thread, for it to be the call's. */
const INSIDE = 0.8;
/** Share of the calls in which it fires. */
const CALLS = 0.9;
const USER_TOP = 1n << 47n;

/** A page-aligned user address (an unsigned value's SQL). */
const userAddress = (uv: string) => `${uv} >= 4096 AND ${uv} < ${USER_TOP} AND ${uv} % 4096 = 0`;

/** A struct page pointer into the vmemmap at `vmemmap` (an unsigned value's SQL). */
const pageIn = (vmemmap: bigint) => (uv: string) =>
  `${uv} >= ${vmemmap} AND ${uv} < ${vmemmap + VMEMMAP_SPAN}`;

/** Names the probe found, where exactly one was: a role with more than one candidate names none. */
function nameOnly(found: ProbeRow[], func: string, source: string): void {
  if (found.length !== 1) return;
  found[0].func = func;
  found[0].source = `when it fires: ${source}`;
}

/**
 * The columns of a table whose values nearly all satisfy `what` (a probe can fire outside the
 * calls too: GUP for execve's arguments), in one pass over the table.
 */
async function columnsWhere(
  db: Db,
  table: string,
  cols: string[],
  what: (uv: string) => string,
): Promise<string[]> {
  if (!cols.length) return [];
  const [row] = await db.rows<Record<string, number | null>>(
    `SELECT ${cols.map((c, i) => `avg((${what(unsignedSql(quoteIdent(c)))})::INT)::DOUBLE AS c${i}`).join(', ')} FROM ${quoteIdent(table)}`,
  );
  return cols.filter((_, i) => (row[`c${i}`] ?? 0) >= INSIDE).map(quoteIdent);
}

interface Fired {
  event: string;
  /** Its events, and those inside a call on the calling thread. */
  n: number;
  inside: number;
  /** Calls in which it fires, in which it fires once, and in which it fires first. */
  calls: number;
  once: number;
  leads: number;
  /** Median time of its first event in a call, from the call's entry (ns). */
  lead: number;
}

/** Share of user faults a probe must follow at their address to be handle_mm_fault. */
const FAULTS = 0.9;
/** How soon after the fault's tracepoint (ns). */
const FAULT_LAG = 1_000_000;

/** handle_mm_fault(vma, address, flags, regs): the probe that follows nearly every user fault. */
async function nameFaultHandler(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
): Promise<void> {
  if (!(await db.tables()).includes('exceptions_page_fault_user')) return;
  const faults = `SELECT e.tid, e.ts_ns AS ts, f.address FROM events e JOIN exceptions_page_fault_user f USING (id) WHERE e.file_id = ${fileId}`;
  const found: ProbeRow[] = [];
  for (const r of rows) {
    const cols = numeric.get(tableOf(r.event)) ?? [];
    if (r.func || r.kind !== 'entry' || !cols.length) continue;
    const at = cols.map((c) => `p.${quoteIdent(c)} = f.address`).join(' OR ');
    const [hit] = await db.rows<{ n: number; hit: number }>(
      `WITH f AS (${faults}),
         p AS (SELECT e.tid, e.ts_ns AS ts, t.* FROM events e JOIN ${quoteIdent(tableOf(r.event))} t USING (id) WHERE e.file_id = ${fileId})
       SELECT count(*)::INT AS n, count(*) FILTER (WHERE p.ts - f.ts < ${FAULT_LAG} AND (${at}))::INT AS hit
       FROM f ASOF LEFT JOIN p ON f.tid = p.tid AND p.ts >= f.ts`,
    );
    if (hit.n >= 10 && hit.hit >= FAULTS * hit.n) found.push(r);
  }
  nameOnly(found, 'handle_mm_fault', 'at every user fault, on its thread, at its address');
}

/** The probes inside nearly every UFFDIO_WRITEPROTECT ioctl, on its thread. */
async function nameProtection(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
): Promise<void> {
  // Only where a probe is left to name: counting the ioctls joins every event (1.5 s on 10 M).
  const unnamed = rows.filter(
    (r) => !r.func && r.kind === 'entry' && (numeric.get(tableOf(r.event)) ?? []).length,
  );
  if (!unnamed.length) return;
  const tables = await db.tables();
  if (!tables.includes('syscalls_sys_enter_ioctl') || !tables.includes('syscalls_sys_exit_ioctl'))
    return;
  const sys = (t: string, where: string) =>
    `SELECT e.tid, e.ts_ns AS ts FROM events e JOIN ${t} USING (id) WHERE e.file_id = ${fileId}${where}`;
  const windows = `SELECT i.tid, i.ts AS t0, o.ts AS t1 FROM (${sys('syscalls_sys_enter_ioctl', ` AND cmd = ${UFFDIO_WRITEPROTECT}`)}) i
    ASOF JOIN (${sys('syscalls_sys_exit_ioctl', '')}) o ON i.tid = o.tid AND o.ts >= i.ts`;
  const [{ n }] = await db.rows<{ n: number }>(`SELECT count(*)::INT AS n FROM (${windows})`);
  if (n < 10) return;
  const byFunc = new Map<string, ProbeRow[]>();
  for (const r of unnamed) {
    const cols = numeric.get(tableOf(r.event))!;
    const t = quoteIdent(tableOf(r.event));
    const [hit] = await db.rows<{ hit: number }>(
      `WITH w AS (${windows}), p AS (${sys(t, '')})
       SELECT count(DISTINCT w.t0)::INT AS hit FROM w JOIN p ON p.tid = w.tid AND p.ts BETWEEN w.t0 AND w.t1`,
    );
    if (hit.hit < CALLS * n) continue;
    const user = await columnsWhere(db, tableOf(r.event), cols, userAddress);
    if (!user.length) continue;
    // An end above the start in every row: a range's bounds, not a start and a length.
    const [ordered] =
      user.length >= 2
        ? await db.rows<{ o: boolean }>(`SELECT bool_and(${user[1]} > ${user[0]}) AS o FROM ${t}`)
        : [{ o: false }];
    const func = ordered.o ? 'change_protection' : 'mwriteprotect_range';
    byFunc.set(func, [...(byFunc.get(func) ?? []), r]);
  }
  for (const [func, found] of byFunc)
    nameOnly(found, func, 'inside UFFDIO_WRITEPROTECT ioctls, on their thread');
}

export async function nameByBehaviour(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
  vmemmap: bigint,
): Promise<void> {
  const named = (kind: string) =>
    rows.find((r) => r.kind === kind && r.func === 'make_device_exclusive_range');
  await nameFaultHandler(db, fileId, rows, numeric);
  await nameProtection(db, fileId, rows, numeric);
  await nameKsmMerge(db, fileId, rows, numeric, vmemmap);
  const call = named('entry');
  const ret = named('return');
  const unnamed = rows.filter((r) => !r.func && r.kind === 'entry');
  if (!call || !ret || !unnamed.length) return;
  const on = (r: ProbeRow) =>
    `SELECT e.id, e.tid, e.ts_ns AS ts FROM events e JOIN ${quoteIdent(tableOf(r.event))} USING (id) WHERE e.file_id = ${fileId}`;
  const probed = unnamed.map(
    (r) => `SELECT ${quoteString(r.event)} AS event, tid, ts FROM (${on(r)})`,
  );
  const fired = await db.rows<Fired>(
    `WITH c AS (${on(call)}), r AS (${on(ret)}),
       w AS (SELECT c.tid, c.ts AS t0, r.ts AS t1 FROM c ASOF JOIN r ON c.tid = r.tid AND r.ts >= c.ts),
       p AS (${probed.join(' UNION ALL ')}),
       j AS (SELECT p.event, p.ts, w.t0, coalesce(p.ts <= w.t1, false) AS inside
             FROM p ASOF LEFT JOIN w ON p.tid = w.tid AND p.ts >= w.t0),
       per AS (SELECT event, t0, count(*) AS k, min(ts) AS t_first FROM j WHERE inside GROUP BY ALL),
       firsts AS (SELECT t0, arg_min(event, t_first) AS event FROM per GROUP BY t0)
     SELECT j.event, count(*)::INT AS n, count(*) FILTER (WHERE inside)::INT AS inside,
       (SELECT count(*) FROM per WHERE per.event = j.event)::INT AS calls,
       (SELECT count(*) FROM per WHERE per.event = j.event AND k = 1)::INT AS once,
       (SELECT count(*) FROM firsts f WHERE f.event = j.event)::INT AS leads,
       (SELECT coalesce(median(t_first - t0), 0) FROM per WHERE per.event = j.event)::DOUBLE AS lead
     FROM j GROUP BY j.event`,
  );
  const calls = Number(
    (await db.rows<{ n: bigint }>(`SELECT count(*) AS n FROM (${on(call)})`))[0].n,
  );
  const candidates = fired.filter((f) => f.inside >= INSIDE * f.n && f.calls >= CALLS * calls);
  const holds = async (f: Fired, what: (uv: string) => string) =>
    (await columnsWhere(db, tableOf(f.event), numeric.get(tableOf(f.event)) ?? [], what)).length >
    0;
  const page = pageIn(vmemmap);
  const traits = await Promise.all(
    candidates.map(async (f) => ({
      f,
      page: await holds(f, page),
      user: await holds(f, userAddress),
    })),
  );
  const gup = traits.filter(
    (t) => !t.page && t.user && t.f.once >= CALLS * t.f.calls && t.f.leads >= CALLS * t.f.calls,
  );
  const walk = traits.filter((t) => t.page && !t.user);
  const mapping = traits.filter((t) => t.page && t.user);
  const name = (ts: typeof traits, func: string) =>
    nameOnly(
      ts.map((t) => rows.find((x) => x.event === t.f.event)!),
      func,
      'inside make_device_exclusive_range calls, on their thread',
    );
  name(gup, 'get_user_pages_remote');
  // A walk reaches a page before its PTEs are read.
  if (walk.length === 1 && mapping.length === 1 && walk[0].f.lead <= mapping[0].f.lead) {
    name(walk, 'rmap_walk');
    name(mapping, 'page_make_device_exclusive_one');
  } else if (!mapping.length) name(walk, 'rmap_walk');
  else if (!walk.length) name(mapping, 'page_make_device_exclusive_one');
  await nameNotifier(db, fileId, rows, numeric);
  await nameUnlock(db, fileId, rows, numeric, vmemmap);
}

/** Share of a probe's events on ksmd for it to be ksmd's. */
const KSMD = 0.9;

/**
 * try_to_merge_one_page(vma, page, kpage) (mm/ksm.c): the one probe at a function's entry that
 * fires nearly only on ksmd, with a page (a struct page pointer).
 */
async function nameKsmMerge(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
  vmemmap: bigint,
): Promise<void> {
  if (rows.some((r) => r.func === 'try_to_merge_one_page')) return;
  const page = pageIn(vmemmap);
  const found: ProbeRow[] = [];
  for (const r of rows) {
    const t = tableOf(r.event);
    if (r.func || r.kind !== 'entry' || !(numeric.get(t) ?? []).length) continue;
    const [k] = await db.rows<{ n: number; ksmd: number }>(
      `SELECT count(*)::INT AS n, count(*) FILTER (WHERE e.comm = 'ksmd')::INT AS ksmd
       FROM events e JOIN ${quoteIdent(t)} USING (id) WHERE e.file_id = ${fileId}`,
    );
    if (k.n < 10 || k.ksmd < KSMD * k.n) continue;
    if ((await columnsWhere(db, t, numeric.get(t)!, page)).length) found.push(r);
  }
  nameOnly(found, 'try_to_merge_one_page', 'on ksmd, with a page');
}

/** Share of the folios rmap_walk met that the thread unlocks soon after, and how soon (ns). */
const UNLOCKED = 0.9;
const UNLOCK_LAG = 1_000_000_000;

/**
 * folio_unlock(folio) (unlock_page before 6.x folios): make_device_exclusive_range locks each folio
 * before rmap_walk and unlocks it on failure, and its caller (test_hmm, nouveau) unlocks the rest
 * once the call returned, on the same thread: the probe that follows nearly every folio rmap_walk
 * was called with, at that folio. (__folio_lock, its slow path, fires only where a lock is
 * contended.)
 */
async function nameUnlock(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
  vmemmap: bigint,
): Promise<void> {
  const walk = rows.find((r) => r.kind === 'entry' && r.func === 'rmap_walk');
  if (!walk || rows.some((r) => r.func === 'folio_unlock' || r.func === 'unlock_page')) return;
  const page = pageIn(vmemmap);
  const wt = tableOf(walk.event);
  const [fol] = await columnsWhere(db, wt, numeric.get(wt) ?? [], page);
  if (!fol) return;
  const on = (t: string, col: string) =>
    `SELECT e.tid, e.ts_ns AS ts, ${unsignedSql(col)} AS fol FROM events e JOIN ${quoteIdent(t)} USING (id) WHERE e.file_id = ${fileId}`;
  const found: ProbeRow[] = [];
  for (const r of rows) {
    const t = tableOf(r.event);
    if (r.func || r.kind !== 'entry' || r === walk) continue;
    const cols = await columnsWhere(db, t, numeric.get(t) ?? [], page);
    if (cols.length !== 1) continue;
    const [hit] = await db.rows<{ n: number; hit: number }>(
      `WITH w AS (${on(wt, fol)}), p AS (${on(t, cols[0])})
       SELECT count(*)::INT AS n, count(*) FILTER (WHERE p.ts - w.ts < ${UNLOCK_LAG})::INT AS hit
       FROM w ASOF LEFT JOIN p ON w.tid = p.tid AND w.fol = p.fol AND p.ts >= w.ts`,
    );
    if (hit.n >= 10 && hit.hit >= UNLOCKED * hit.n) found.push(r);
  }
  nameOnly(
    found,
    'folio_unlock',
    'on the thread of each rmap_walk of make_device_exclusive_range, soon after, at its folio',
  );
}

/** How soon after page_make_device_exclusive_one its notifier starts (ns). */
const NOTIFIER_LAG = 1_000_000;

/**
 * __mmu_notifier_invalidate_range_start(range): page_make_device_exclusive_one (5.14-6.14)
 * starts an MMU_NOTIFY_EXCLUSIVE invalidation of [address, address + folio size) right away, on
 * its thread. Of the probes that follow nearly every one of its calls with a range from its
 * address, the earliest: a driver's interval notifier (test_hmm's dmirror_interval_invalidate)
 * is called from inside it, with the same range.
 */
async function nameNotifier(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
): Promise<void> {
  const mapping = rows.find(
    (r) => r.kind === 'entry' && r.func === 'page_make_device_exclusive_one',
  );
  if (!mapping || rows.some((r) => r.func === '__mmu_notifier_invalidate_range_start')) return;
  const mt = tableOf(mapping.event);
  const [va] = await columnsWhere(db, mt, numeric.get(mt) ?? [], userAddress);
  if (!va) return;
  const on = (t: string, cols: string) =>
    `SELECT e.tid, e.ts_ns AS ts, ${cols} FROM events e JOIN ${quoteIdent(t)} USING (id) WHERE e.file_id = ${fileId}`;
  const found: { r: ProbeRow; lag: number }[] = [];
  for (const r of rows) {
    const t = tableOf(r.event);
    const cols = numeric.get(t) ?? [];
    if (r.func || r.kind !== 'entry' || cols.length < 2) continue;
    const user = await columnsWhere(db, t, cols, userAddress);
    if (user.length < 2) continue;
    // A range: some column at the address, another above it.
    const from = user.map((c) => `p.${c} = x.va`).join(' OR ');
    const above = user.map((c) => `p.${c} > x.va`).join(' OR ');
    const [hit] = await db.rows<{ n: number; hit: number; lag: number | null }>(
      `WITH x AS (${on(mt, `${unsignedSql(quoteIdent(va.slice(1, -1)))} AS va`)}),
         p AS (${on(t, user.map((c) => `${unsignedSql(c)} AS ${c}`).join(', '))})
       SELECT count(*)::INT AS n,
         count(*) FILTER (WHERE p.ts - x.ts < ${NOTIFIER_LAG} AND (${from}) AND (${above}))::INT AS hit,
         median(p.ts - x.ts)::DOUBLE AS lag
       FROM x ASOF LEFT JOIN p ON x.tid = p.tid AND p.ts >= x.ts`,
    );
    if (hit.n >= 10 && hit.hit >= CALLS * hit.n) found.push({ r, lag: hit.lag ?? Infinity });
  }
  if (!found.length) return;
  found.sort((a, b) => a.lag - b.lag);
  if (found.length > 1 && found[0].lag === found[1].lag) return;
  nameOnly(
    [found[0].r],
    '__mmu_notifier_invalidate_range_start',
    'right after each page_make_device_exclusive_one, on its thread, with a range from its address',
  );
}
