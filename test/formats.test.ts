// Every text format of every real capture in traces/host ingests with nothing lost, and the
// formats agree with each other on what happened (same run, same instance or same process).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { find, hostCaptures, ingestTemp } from './helpers.js';

const TEXT = ['trace.txt', 'trace_pipe.txt', 'report.txt', 'report-l.txt', 'report-t.txt', 'perf-script.txt', 'perf-script-F.txt'];
// Beacon the workloads issue at each checkpoint (ioctl(-1, 'MMRP', clock_ns)); perf cannot record trace_marker.
const BEACON = 0x4d4d5250;

const captures = hostCaptures().filter((d) => TEXT.every((f) => find(d, f)));

describe.each(captures.map((d) => [path.basename(d), d]))('capture %s', (_name, dir) => {
  it('ingests every format with 0 unparsed lines, 0 field errors, 0 lost events, and agreeing counts', async () => {
    const files = TEXT.map((f) => find(dir, f)!);
    const { db, files: sums } = await ingestTemp(files);
    for (const s of sums) {
      expect({ file: s.path, unparsed: s.unparsed, lost: s.lost }).toEqual({ file: s.path, unparsed: 0, lost: 0 });
      expect(s.events).toBeGreaterThan(50);
    }
    expect(await db.rows('SELECT * FROM field_errors LIMIT 3')).toEqual([]);
    expect(await db.rows(`SELECT DISTINCT event FROM events WHERE event LIKE 'unknown:%'`)).toEqual([]);
    expect(sums.map((s) => s.format)).toEqual(['ftrace', 'ftrace', 'trace-cmd', 'trace-cmd', 'trace-cmd', 'perf', 'perf']);

    // trace.txt, trace_pipe.txt and the three reports: one event list, event for event.
    const counts = await db.rows<{ event: string; n: string }>(
      `SELECT event, list(n ORDER BY file_id)::VARCHAR AS n FROM (SELECT file_id, event, count(*) n FROM events WHERE file_id < 5 GROUP BY ALL) GROUP BY event`,
    );
    for (const c of counts) expect({ event: c.event, n: c.n }).toEqual({ event: c.event, n: JSON.stringify(Array(5).fill(JSON.parse(c.n)[0])).replace(/,/g, ', ') });
    // trace-cmd -t keeps the ns that tracefs rounds to the nearest µs (ns2usecs adds 500).
    const ts = await db.rows<{ bad: bigint }>(
      `SELECT count(*) AS bad FROM (SELECT ts_ns, row_number() OVER (ORDER BY id) r FROM events WHERE file_id = 0) a
       JOIN (SELECT ts_ns, row_number() OVER (ORDER BY id) r FROM events WHERE file_id = 4) b USING (r) WHERE a.ts_ns <> (b.ts_ns + 500) // 1000 * 1000`,
    );
    expect(ts[0].bad).toBe(0n);

    // perf follows the workload's own tasks: compare those, between the first and last checkpoint
    // beacon, before each task's exit. tlb_flush is left out: perf's per-task events are switched
    // out at the context switches where the kernel emits most of them.
    const perfVsTracefs = await db.rows(
      `WITH win AS (SELECT e.file_id, min(ts_ns) t0, max(ts_ns) t1 FROM events e JOIN syscalls_sys_enter_ioctl i USING (id) WHERE i.cmd = ${BEACON} GROUP BY 1),
            ex AS (SELECT file_id, tid, min(ts_ns) tx FROM events WHERE event IN ('sched:sched_process_exit', 'syscalls:sys_enter_exit_group') GROUP BY ALL),
            t AS (SELECT file_id, event, count(*) n FROM events JOIN win USING (file_id) LEFT JOIN ex USING (file_id, tid)
                  WHERE ts_ns BETWEEN t0 AND t1 AND ts_ns < coalesce(tx, t1 + 1) AND file_id IN (0, 5)
                    AND tid IN (SELECT DISTINCT tid FROM events WHERE file_id = 5) AND event NOT IN ('ftrace:print', 'tlb:tlb_flush')
                  GROUP BY ALL)
       SELECT event, a.n AS tracefs, b.n AS perf FROM (FROM t WHERE file_id = 0) a FULL JOIN (FROM t WHERE file_id = 5) b USING (event)
       WHERE a.n IS DISTINCT FROM b.n`,
    );
    expect(perfVsTracefs).toEqual([]);
    const perfSame = await db.rows(
      `SELECT event FROM events WHERE file_id IN (5, 6) GROUP BY event HAVING count(*) FILTER (file_id = 5) <> count(*) FILTER (file_id = 6)`,
    );
    expect(perfSame).toEqual([]);

    // Every checkpoint the workload printed sits in each tracefs/trace-cmd text, byte for byte.
    const ckpts = fs.readFileSync(find(dir, 'workload.out')!, 'utf8').split('\n').filter((l) => l.startsWith('MMREPLAY_CKPT'));
    expect(ckpts.length).toBeGreaterThan(0);
    const marks = await db.rows<{ file_id: number; buf: string }>(`SELECT file_id, trim(buf) AS buf FROM ftrace_print JOIN events USING (id) WHERE buf LIKE 'MMREPLAY_CKPT%'`);
    for (let f = 0; f < 5; f++) expect(marks.filter((m) => m.file_id === f).map((m) => m.buf)).toEqual(ckpts);
    db.close();
  });
});
