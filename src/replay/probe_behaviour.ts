// Which function an unnamed probe probes, read off when and with what it fires. A trace-cmd report
// prints kprobes as addresses; where only make_device_exclusive_range is named (by the page array
// its return prints), the probes that fire inside its calls, on the calling thread, are told apart
// by what the kernel does there (mm/rmap.c, 5.14-6.14): get_user_pages_remote once per call,
// before anything else the call probes; then, per page, rmap_walk (a folio, no user address) and
// page_make_device_exclusive_one (a folio and the page's user address). A role with more than one
// candidate names none.
import type { Db } from '../store/db.js';
import { quoteIdent, quoteString } from '../store/quote.js';
import { tableOf, type ProbeRow } from './probe_names.js';
import { unsignedSql, VMEMMAP_SPAN } from './vmemmap.js';

/** Share of a probe's events inside calls, on the calling thread, for it to be the call's. */
const INSIDE = 0.8;
/** Share of the calls in which it fires. */
const CALLS = 0.9;
const USER_TOP = 1n << 47n;

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

export async function nameByBehaviour(
  db: Db,
  fileId: number,
  rows: ProbeRow[],
  numeric: Map<string, string[]>,
  vmemmap: bigint,
): Promise<void> {
  const named = (kind: string) =>
    rows.find((r) => r.kind === kind && r.func === 'make_device_exclusive_range');
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
  const holds = async (f: Fired, what: (uv: string) => string) => {
    const cols = numeric.get(tableOf(f.event)) ?? [];
    if (!cols.length) return false;
    const t = quoteIdent(tableOf(f.event));
    // Nearly every value: a probe can fire outside the calls too (GUP for execve's arguments).
    const [row] = await db.rows<Record<string, number | null>>(
      `SELECT ${cols.map((c, i) => `avg((${what(unsignedSql(quoteIdent(c)))})::INT)::DOUBLE AS c${i}`).join(', ')} FROM ${t}`,
    );
    return Object.values(row).some((v) => v !== null && v >= INSIDE);
  };
  const page = (uv: string) => `${uv} >= ${vmemmap} AND ${uv} < ${vmemmap + VMEMMAP_SPAN}`;
  const user = (uv: string) => `${uv} >= 4096 AND ${uv} < ${USER_TOP} AND ${uv} % 4096 = 0`;
  const traits = await Promise.all(
    candidates.map(async (f) => ({ f, page: await holds(f, page), user: await holds(f, user) })),
  );
  const gup = traits.filter(
    (t) => !t.page && t.user && t.f.once >= CALLS * t.f.calls && t.f.leads >= CALLS * t.f.calls,
  );
  const walk = traits.filter((t) => t.page && !t.user);
  const mapping = traits.filter((t) => t.page && t.user);
  const name = (ts: typeof traits, func: string) => {
    if (ts.length !== 1) return;
    const r = rows.find((x) => x.event === ts[0].f.event)!;
    r.func = func;
    r.source = 'when it fires: inside make_device_exclusive_range calls, on their thread';
  };
  name(gup, 'get_user_pages_remote');
  // A walk reaches a page before its PTEs are read.
  if (walk.length === 1 && mapping.length === 1 && walk[0].f.lead <= mapping[0].f.lead) {
    name(walk, 'rmap_walk');
    name(mapping, 'page_make_device_exclusive_one');
  } else if (!mapping.length) name(walk, 'rmap_walk');
  else if (!walk.length) name(mapping, 'page_make_device_exclusive_one');
}
