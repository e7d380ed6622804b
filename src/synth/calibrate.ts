// Calibration: the per-operation costs of the simulated interleaving, measured from an ingested
// lab trace (traces/lab/6.12/race-dontneed, traces/lab/6.12-r2/race-dontneed/A: test_hmm's
// HMM_DMIRROR_EXCLUSIVE against a MADV_DONTNEED + refault racer under QEMU TCG, 2 vCPUs).
// Events are found by the function their probe binds to (the `probes` table), not by name.
import type { Db } from '../store/db.js';
import {
  quantiles,
  type Calibration,
  type Contention,
  type ContentionCalibration,
  type Costs,
} from './costs.js';

type Role =
  | 'call'
  | 'callret'
  | 'gup'
  | 'gupret'
  | 'walk'
  | 'read'
  | 'ioctl'
  | 'ioctlret'
  | 'madv'
  | 'madvret'
  | 'notif'
  | 'fault';

interface Row {
  file_id: number;
  ts: bigint;
  tid: number;
  role: Role;
  n: bigint | null;
}

const PROBED: [string, 'entry' | 'return', Role][] = [
  ['make_device_exclusive_range', 'entry', 'call'],
  ['make_device_exclusive_range', 'return', 'callret'],
  ['get_user_pages_remote', 'entry', 'gup'],
  ['get_user_pages_remote', 'return', 'gupret'],
  ['rmap_walk', 'entry', 'walk'],
  ['vmalloc_noprof', 'return', 'read'],
  ['__mmu_notifier_invalidate_range_start', 'entry', 'notif'],
];

const TRACEPOINTS: [string, Role][] = [
  ['syscalls:sys_enter_ioctl', 'ioctl'],
  ['syscalls:sys_exit_ioctl', 'ioctlret'],
  ['syscalls:sys_enter_madvise', 'madv'],
  ['syscalls:sys_exit_madvise', 'madvret'],
  ['exceptions:page_fault_user', 'fault'],
];

/** Every sample (µs) behind each cost, per file of an ingested database. */
export async function measure(
  db: Db,
): Promise<{ file: string; samples: Record<keyof Costs, number[]> }[]> {
  const probes = await db.rows<{ event: string; func: string; kind: string }>(
    `SELECT DISTINCT event, func, kind FROM probes`,
  );
  const roles = new Map<string, Role>(TRACEPOINTS);
  for (const p of probes) {
    const r = PROBED.find(([f, k]) => f === p.func && k === p.kind);
    if (r) roles.set(p.event, r[2]);
  }
  const gupEvent = [...roles].find(([, r]) => r === 'gup')?.[0];
  const gupTable = gupEvent?.replace(':', '_');
  const tables = new Set(
    (
      await db.rows<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables`)
    ).map((t) => t.name),
  );
  const nrPages =
    gupTable && tables.has(gupTable)
      ? `(SELECT nr_pages FROM "${gupTable}" g WHERE g.id = e.id)`
      : 'NULL';
  const cases = [...roles]
    .map(([ev, r]) => `WHEN '${ev.replace(/'/g, "''")}' THEN '${r}'`)
    .join(' ');
  const rows = await db.rows<Row>(
    `SELECT file_id, ts_ns AS ts, tid, CASE event ${cases} END AS role,
            CASE WHEN event = '${gupEvent ?? ''}' THEN ${nrPages} END AS n
     FROM events e WHERE event IN (${[...roles.keys()].map((k) => `'${k}'`).join(', ')})
     ORDER BY file_id, ts_ns, id`,
  );
  const files = await db.rows<{ file_id: number; path: string }>(
    `SELECT file_id, path FROM files ORDER BY file_id`,
  );
  const us = (a: bigint, b: bigint) => Number(b - a) / 1000;
  const out: { file: string; samples: Record<keyof Costs, number[]> }[] = [];
  for (const { file_id: fileId, path } of files) {
    const s: Record<keyof Costs, number[]> = {
      gupPerPage: [],
      walkFirst: [],
      walkPerPage: [],
      walkLast: [],
      ioctlToCall: [],
      callGap: [],
      callToRead: [],
      readToExit: [],
      requestGap: [],
      madviseToZap: [],
      zapToExit: [],
      refault: [],
      racerGap: [],
    };
    out.push({ file: path, samples: s });
    const ev = rows.filter((r) => r.file_id === fileId);
    // The driver is the task that calls make_device_exclusive_range; racers are everyone else.
    const driver = ev.find((r) => r.role === 'call')?.tid;
    if (driver === undefined) continue;
    const windows: [bigint, bigint][] = [];
    // Driver side, in its own order.
    let ioctl: bigint | null = null;
    let lastExit: bigint | null = null;
    let gup: { ts: bigint; n: number } | null = null;
    let lastWalkOrRet: bigint | null = null;
    let walks = 0;
    let callRet: bigint | null = null;
    let inCall = false;
    let read: bigint | null = null;
    for (const r of ev.filter((x) => x.tid === driver)) {
      switch (r.role) {
        case 'ioctl':
          if (lastExit !== null) s.requestGap.push(us(lastExit, r.ts));
          ioctl = r.ts;
          callRet = null;
          read = null;
          break;
        case 'call':
          if (callRet !== null) s.callGap.push(us(callRet, r.ts));
          else if (ioctl !== null) s.ioctlToCall.push(us(ioctl, r.ts));
          inCall = true;
          walks = 0;
          break;
        case 'gup':
          if (inCall) gup = { ts: r.ts, n: Number(r.n ?? 0) };
          break;
        case 'gupret':
          if (gup && gup.n > 0) s.gupPerPage.push(us(gup.ts, r.ts) / gup.n);
          gup = null;
          lastWalkOrRet = r.ts;
          break;
        case 'walk':
          if (lastWalkOrRet !== null)
            (walks === 0 ? s.walkFirst : s.walkPerPage).push(us(lastWalkOrRet, r.ts));
          lastWalkOrRet = r.ts;
          walks++;
          break;
        case 'callret':
          if (walks > 0 && lastWalkOrRet !== null) s.walkLast.push(us(lastWalkOrRet, r.ts));
          callRet = r.ts;
          inCall = false;
          break;
        case 'read':
          if (callRet !== null) s.callToRead.push(us(callRet, r.ts));
          read = r.ts;
          break;
        case 'ioctlret':
          if (read !== null) s.readToExit.push(us(read, r.ts));
          if (ioctl !== null) windows.push([ioctl, r.ts]);
          lastExit = r.ts;
          ioctl = null;
          break;
      }
    }
    // Racer side: only while a request is in flight (the race program's racers idle otherwise).
    const inFlight = (ts: bigint) => windows.some(([a, b]) => a <= ts && ts <= b);
    const racerTids = new Set(
      ev.filter((r) => r.role === 'madv' && r.tid !== driver).map((r) => r.tid),
    );
    for (const tid of racerTids) {
      let madv: bigint | null = null;
      let zap: bigint | null = null;
      let madvRet: bigint | null = null;
      let fault: bigint | null = null;
      for (const r of ev.filter((x) => x.tid === tid)) {
        if (r.role === 'madv') {
          if (fault !== null && inFlight(fault) && inFlight(r.ts)) s.refault.push(us(fault, r.ts));
          madv = r.ts;
          zap = null;
          fault = null;
          madvRet = null;
        } else if (r.role === 'notif' && madv !== null && zap === null) {
          zap = r.ts;
          if (inFlight(madv)) s.madviseToZap.push(us(madv, r.ts));
        } else if (r.role === 'madvret' && zap !== null) {
          madvRet = r.ts;
          if (inFlight(zap)) s.zapToExit.push(us(zap, r.ts));
        } else if (r.role === 'fault') {
          if (fault !== null && inFlight(fault)) s.refault.push(us(fault, r.ts));
          else if (fault === null && madvRet !== null && inFlight(madvRet))
            s.racerGap.push(us(madvRet, r.ts));
          fault = r.ts;
        }
      }
    }
  }
  return out;
}

/** Each file's costs: every distribution as 101 quantiles. */
export async function calibrate(db: Db): Promise<Calibration[]> {
  return (await measure(db)).map(({ file, samples }) => ({
    costs: Object.fromEntries(
      Object.entries(samples).map(([k, v]) => [k, quantiles(v)]),
    ) as unknown as Costs,
    sources: [file],
    samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.length])) as Record<
      keyof Costs,
      number
    >,
  }));
}

/**
 * lab-costs.json for calibrations: the command that made them and, per trace, its source, the
 * sample counts and each distribution's quantiles on one line.
 */
export function calibrationJson(cals: Calibration[], command: string): string {
  const one = (cal: Calibration) => {
    const costs = Object.entries(cal.costs).map(([k, v]) => `        "${k}": ${JSON.stringify(v)}`);
    return `    {
      "sources": ${JSON.stringify(cal.sources)},
      "samples": ${JSON.stringify(cal.samples)},
      "costs": {
${costs.join(',\n')}
      }
    }`;
  };
  return `{
  "command": ${JSON.stringify(command)},
  "runs": [
${cals.map(one).join(',\n')}
  ]
}
`;
}

/** Every file's requests pooled: the writers that waited for the driver's read lock. */
export async function measureContention(db: Db): Promise<ContentionCalibration> {
  const probes = await db.rows<{ event: string; func: string; kind: string }>(
    `SELECT DISTINCT event, func, kind FROM probes`,
  );
  const probed = (func: string, kind: string) =>
    probes.filter((p) => p.func === func && p.kind === kind).map((p) => p.event);
  const roles: [string[], string][] = [
    [probed('make_device_exclusive_range', 'entry'), 'call'],
    [probed('vmalloc_noprof', 'return'), 'read'],
    [probed('__mmu_notifier_invalidate_range_start', 'entry'), 'notif'],
    [['syscalls:sys_enter_ioctl'], 'ioctl'],
    [['syscalls:sys_exit_ioctl'], 'ioctlret'],
  ];
  const cases = roles
    .flatMap(([evs, r]) => evs.map((ev) => `WHEN '${ev.replace(/'/g, "''")}' THEN '${r}'`))
    .join(' ');
  const lock = (t: string, role: string) =>
    `SELECT e.file_id, e.ts_ns AS ts, e.id, e.tid, '${role}' AS role, l."write"::VARCHAR IN ('true', '1') AS w
     FROM events e JOIN "mmap_lock_${t}" l USING (id)`;
  const tables = new Set((await db.tables()).map(String));
  const locks = ['mmap_lock_start_locking', 'mmap_lock_acquire_returned', 'mmap_lock_released']
    .filter((t) => tables.has(`mmap_lock_${t}`))
    .map((t) => lock(t, t.replace('mmap_lock_', '')));
  const rows = await db.rows<{
    file_id: number;
    ts: bigint;
    tid: number;
    role: string;
    w: boolean | null;
  }>(
    `SELECT * FROM (
       SELECT file_id, ts_ns AS ts, id, tid, CASE event ${cases} END AS role, NULL::BOOLEAN AS w
       FROM events WHERE event IN (${roles.flatMap(([e]) => e.map((x) => `'${x.replace(/'/g, "''")}'`)).join(', ')})
       ${locks.map((q) => `UNION ALL ${q}`).join(' ')})
     ORDER BY file_id, ts, id`,
  );
  const files = await db.rows<{ file_id: number; path: string }>(
    `SELECT file_id, path FROM files ORDER BY file_id`,
  );
  const s: Record<keyof Contention, number[]> = {
    writerWake: [],
    writerWork: [],
    writerHold: [],
    readAfterWriter: [],
  };
  const us = (a: bigint, b: bigint) => Number(b - a) / 1000;
  for (const { file_id: fileId } of files) {
    const ev = rows.filter((r) => r.file_id === fileId);
    const driver = ev.find((r) => r.role === 'call')?.tid;
    if (driver === undefined) continue;
    let inIoctl = false;
    let unlock: bigint | null = null;
    let read = false;
    // Writers waiting for the lock (start_locking seen, acquire not yet), and those that just got it.
    const waiting = new Set<number>();
    let woken: { tid: number; ts: bigint; notif: boolean } | null = null;
    let waited = false;
    let contended = false;
    for (const r of ev) {
      if (r.tid === driver) {
        if (r.role === 'ioctl') {
          inIoctl = true;
          unlock = null;
          read = false;
          waited = false;
        } else if (r.role === 'ioctlret') inIoctl = false;
        else if (r.role === 'released' && r.w === false && inIoctl && !read) {
          unlock = r.ts;
          waited = contended = waiting.size > 0;
          woken = null;
        } else if (r.role === 'read' && inIoctl && unlock !== null && !read) {
          read = true;
          if (contended) s.readAfterWriter.push(us(unlock, r.ts));
        }
        continue;
      }
      if (r.role === 'start_locking' && r.w) waiting.add(r.tid);
      else if (r.role === 'acquire_returned' && r.w && waiting.delete(r.tid)) {
        // The first writer to get the lock after a contended unlock is the one it woke.
        if (unlock !== null && waited) {
          s.writerWake.push(us(unlock, r.ts));
          woken = { tid: r.tid, ts: r.ts, notif: false };
          waited = false;
        }
      } else if (r.role === 'notif' && woken?.tid === r.tid && !woken.notif) {
        s.writerWork.push(us(woken.ts, r.ts));
        woken.notif = true;
      } else if (r.role === 'released' && r.w && woken?.tid === r.tid) {
        s.writerHold.push(us(woken.ts, r.ts));
        woken = null;
      }
    }
  }
  return {
    costs: Object.fromEntries(
      Object.entries(s).map(([k, v]) => [k, quantiles(v)]),
    ) as unknown as Contention,
    sources: files.map((f) => f.path),
    samples: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.length])) as Record<
      keyof Contention,
      number
    >,
  };
}
