// Lossy windows (views/lossy.sql): each lost-events marker becomes the window in which its CPU lost
// the events, from the CPU's last event before the marker to its first after, and the analysis
// rows whose time meets a window say so (`lossy`). Checked against the formats' own text: the
// kernel's `CPU:N [LOST M EVENTS]` lines of a real recording (traces/host/lost), perf's
// PERF_RECORD_LOST times (traces/host/perf-lost), a .dat's missed-events pages (traces/host/dat).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { installViews } from '../src/analysis/views.js';
import { replay } from '../src/replay/replay.js';
import { HOST, ROOT, ingestTemp, tmpDir } from './helpers.js';

interface Window {
  cpu: number;
  line_no: number;
  lost: number | null;
  from_ts: bigint | null;
  to_ts: bigint | null;
}

const EVENT = /^.*?\[(\d{3})\]\s+\S*\s*(\d+)\.(\d{6}): /;
const LOST = /^CPU:(\d+) \[LOST (\d+) EVENTS\]$/;
const ns = (sec: string, us: string) => BigInt(sec) * 1_000_000_000n + BigInt(us) * 1000n;

/** The windows of a tracefs text, read from its lines alone: per CPU, the event before and after each marker. */
function windowsOfText(lines: string[]): Window[] {
  const last = new Map<number, bigint>();
  const open = new Map<number, Window[]>();
  const out: Window[] = [];
  lines.forEach((line, i) => {
    const lost = LOST.exec(line);
    if (lost) {
      const w: Window = {
        cpu: +lost[1],
        line_no: i + 1,
        lost: +lost[2],
        from_ts: last.get(+lost[1]) ?? null,
        to_ts: null,
      };
      out.push(w);
      open.set(w.cpu, [...(open.get(w.cpu) ?? []), w]);
      return;
    }
    const e = EVENT.exec(line);
    if (!e) return;
    const cpu = +e[1];
    const ts = ns(e[2], e[3]);
    last.set(cpu, ts);
    for (const w of open.get(cpu) ?? []) w.to_ts = ts;
    open.delete(cpu);
  });
  return out;
}

/** Whether [t0, t1] meets a window (after from_ts, up to to_ts), as the view library defines it. */
const meets = (ws: Window[], t0: bigint, t1: bigint) =>
  ws.some((w) => (w.from_ts === null || w.from_ts < t1) && (w.to_ts === null || w.to_ts >= t0));

const windowRows = (db: Db) =>
  db.rows<Window>(
    `SELECT cpu, line_no::INT AS line_no, lost::INT AS lost, from_ts, to_ts FROM lossy_windows ORDER BY line_no, cpu`,
  );

describe('lossy windows of a recording that lost events (traces/host/lost, tracefs trace_pipe)', () => {
  const file = path.join(HOST, 'lost/trace_pipe.txt.xz');
  let db: Db;
  let expected: Window[];
  beforeAll(async () => {
    expected = windowsOfText(
      execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 })
        .toString('utf8')
        .split('\n'),
    );
    const r = await ingestTemp([file]);
    r.db.close();
    await replay(r.dbFile, { kernel: '6.18' });
    db = await Db.open(r.dbFile);
    await installViews(db);
  }, 180_000);
  afterAll(() => db?.close());

  it('gives each marker its CPU’s window: the last event before it and the resumption after it', async () => {
    expect(expected.length).toBe(218);
    // Most markers come after events of their CPU: windows with both ends.
    expect(expected.filter((w) => w.from_ts !== null && w.to_ts !== null).length).toBeGreaterThan(
      190,
    );
    expect(await windowRows(db)).toEqual(expected);
    // The counts are the ring buffer's own: the sidecar's per-CPU overruns.
    const sidecar = JSON.parse(
      fs.readFileSync(path.join(HOST, 'lost/trace_pipe.txt.json'), 'utf8'),
    ) as { stats: { cpu: number; overrun: number }[] };
    const lost = await db.rows<{ cpu: number; n: number }>(
      `SELECT cpu, sum(lost)::INT AS n FROM lossy_windows GROUP BY cpu ORDER BY cpu`,
    );
    expect(lost).toEqual(sidecar.stats.map((s) => ({ cpu: s.cpu, n: s.overrun })));
  });

  it('flags the invariant violations found inside a window, and only those', async () => {
    const rows = await db.rows<{ ts: bigint; lossy: boolean }>(
      `SELECT ts, lossy FROM violations ORDER BY ts, rule`,
    );
    expect(rows.length).toBeGreaterThan(100);
    expect(rows.map((r) => r.lossy)).toEqual(rows.map((r) => meets(expected, r.ts, r.ts)));
    // Both kinds: the lost frees surface inside windows and long after them.
    expect(rows.some((r) => r.lossy)).toBe(true);
    expect(rows.some((r) => !r.lossy)).toBe(true);
    const [s] = await db.rows<{ v: bigint; l: bigint }>(
      `SELECT sum(violations)::BIGINT v, sum(lossy)::BIGINT l FROM invariant_summary`,
    );
    expect(s).toEqual({ v: BigInt(rows.length), l: BigInt(rows.filter((r) => r.lossy).length) });
  });
});

describe('lossy windows of the binary formats', () => {
  it('perf.data: a PERF_RECORD_LOST window ends at the sample perf printed the LOST record with', async () => {
    const { db } = await ingestTemp([path.join(HOST, 'perf-lost/perf.data')]);
    await installViews(db);
    const ws = await windowRows(db);
    // perf script --show-lost-events: `sh 24551 [001] 3536.824468: PERF_RECORD_LOST lost 33`.
    const printed = fs
      .readFileSync(path.join(HOST, 'perf-lost/lost-events.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => /\[(\d+)\]\s+(\d+)\.(\d+): PERF_RECORD_LOST lost (\d+)/.exec(l)!)
      .map((m) => ({ cpu: +m[1], us: ns(m[2], m[3]) / 1000n, lost: +m[4] }));
    expect(ws.map((w) => ({ cpu: w.cpu, us: w.to_ts! / 1000n, lost: w.lost }))).toEqual(printed);
    for (const w of ws) expect(w.from_ts).not.toBeNull();
    for (const w of ws) expect(w.from_ts! < w.to_ts!).toBe(true);
    db.close();
  });

  it('.dat: a page’s missed-events flag opens the window of its CPU before that CPU’s first event', async () => {
    const { db } = await ingestTemp([path.join(HOST, 'dat/lost.dat')]);
    await installViews(db);
    // trace-cmd report: `CPU:1 [602372 EVENTS DROPPED]` before the first event, CPU 0's before CPU 0's first.
    const first = await db.rows<{ cpu: number; ts: bigint }>(
      `SELECT cpu, min(ts_ns) ts FROM events GROUP BY cpu ORDER BY cpu`,
    );
    const ws = (await windowRows(db)).sort((a, b) => a.cpu - b.cpu);
    expect(ws.map((w) => ({ cpu: w.cpu, lost: w.lost, from: w.from_ts, to: w.to_ts }))).toEqual([
      { cpu: 0, lost: 972249, from: null, to: first[0].ts },
      { cpu: 1, lost: 602372, from: null, to: first[1].ts },
    ]);
    db.close();
  });
});

// No lab trace lost events (the lab's buffers were large), so the device-exclusive rows are checked
// on race-dontneed's own text with events taken out as the kernel takes them: three consecutive
// events of CPU 0 inside one request removed, and the kernel's `CPU:0 [LOST 3 EVENTS]` printed
// before the next CPU 0 event, where tracefs prints it.
describe('lossy device-exclusive requests and pages (race-dontneed with events dropped as the kernel drops them)', () => {
  let db: Db;
  let window: Window;
  beforeAll(async () => {
    const text = execFileSync(
      'xz',
      ['-dc', path.join(ROOT, 'traces/lab/6.12/race-dontneed/trace.txt.xz')],
      { maxBuffer: 1 << 28 },
    )
      .toString('utf8')
      .split('\n')
      .slice(0, 20_000);
    // The 20th request's ioctl, and the three CPU 0 events after its first GUP returns (between
    // its pages' pins and walks).
    const enters = text.flatMap((l, i) => (/ sys_ioctl\(fd: 3, cmd: c0284805/.test(l) ? [i] : []));
    const at = enters[20];
    const exit = text.findIndex((l, i) => i > at && / sys_ioctl -> /.test(l));
    const gupRet = text.findIndex((l, i) => i > at && /_ret: .*<- get_user_pages_remote/.test(l));
    const cpu0 = (i: number) => EVENT.exec(text[i])?.[1] === '000';
    const drop: number[] = [];
    for (let i = gupRet + 1; drop.length < 3; i++)
      if (cpu0(i) && !/ioctl|RACE/.test(text[i])) drop.push(i);
    expect(drop[2]).toBeLessThan(exit);
    let next = drop[2] + 1;
    while (!cpu0(next)) next++;
    const lines = text.flatMap((l, i) =>
      drop.includes(i) ? [] : i === next ? ['CPU:0 [LOST 3 EVENTS]', l] : [l],
    );
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'trace.txt'), lines.join('\n') + '\n');
    [window] = windowsOfText(lines);
    const r = await ingestTemp([path.join(dir, 'trace.txt')]);
    r.db.close();
    await replay(r.dbFile, { designs: ['5.14', '6.15'] });
    db = await Db.open(r.dbFile);
    await installViews(db);
  }, 180_000);
  afterAll(() => db?.close());

  it('flags the requests and pages whose span meets the window, and only those', async () => {
    expect(await windowRows(db)).toEqual([window]);
    expect(window.from_ts! < window.to_ts!).toBe(true);
    const reqs = await db.rows<{ ts: bigint; dur: bigint | null; lossy: boolean }>(
      `SELECT ts, dur, lossy FROM exclusive_request_results ORDER BY design, request_id`,
    );
    expect(reqs.length).toBeGreaterThan(40);
    expect(reqs.map((r) => r.lossy)).toEqual(
      reqs.map((r) => meets([window], r.ts, r.ts + (r.dur ?? 0n))),
    );
    expect(reqs.filter((r) => r.lossy).length).toBe(2); // the request under each design
    const pages = await db.rows<{ t0: bigint; t1: bigint; lossy: boolean; lossy2: boolean }>(
      `SELECT coalesce(p.pin_ts, c.ts) t0, coalesce(p.walk_ts, c.ts + coalesce(c.dur, 0)) t1, w.lossy, r.lossy AS lossy2
       FROM exclusive_pages p JOIN exclusive_calls c USING (file_id, design, call_id)
       JOIN exclusive_page_windows w USING (file_id, design, call_id, idx)
       JOIN exclusive_request_pages r USING (file_id, design, call_id, idx) ORDER BY p.design, p.call_id, p.idx`,
    );
    expect(pages.map((p) => p.lossy)).toEqual(pages.map((p) => meets([window], p.t0, p.t1)));
    expect(pages.map((p) => p.lossy2)).toEqual(pages.map((p) => p.lossy));
    expect(pages.some((p) => p.lossy)).toBe(true);
    expect(pages.some((p) => !p.lossy)).toBe(true);
  });
});
