// `perf script -F` prints the fields it is given, in a fixed order: any list with tid, time, event
// and trace is read, with or without comm, cpu, misc and tod. The variants were printed from
// traces/host/dontneed/perf.data (traces/host/perf-fields) and must give the events of that run's
// default `perf script` text.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST, ingestTemp } from './helpers.js';

const FORMATS = path.join(HOST, 'dontneed/formats');

/** Every event with its typed fields (a few tables), µs timestamps. */
const EVENTS = `SELECT e.event, e.tid, e.ts_ns // 1000 AS ts_us, m.mm, a.pfn, s.start
  FROM events e LEFT JOIN mmap_lock_mmap_lock_start_locking m USING (id)
  LEFT JOIN kmem_mm_page_alloc a USING (id) LEFT JOIN syscalls_sys_enter_madvise s USING (id)
  ORDER BY e.id`;

async function events(file: string) {
  const { db, files } = await ingestTemp([file], { formatsDir: FORMATS });
  try {
    const cpus = await db.rows<{ n: bigint }>('SELECT count(cpu) AS n FROM events');
    return { rows: await db.rows(EVENTS), cpus: Number(cpus[0].n), summary: files[0] };
  } finally {
    db.close();
  }
}

describe('perf script -F variants', async () => {
  const reference = await events(path.join(HOST, 'dontneed/perf-script.txt'));

  it('the default text gives every sample, each with its CPU', () => {
    expect(reference.rows.length).toBe(221);
    expect(reference.cpus).toBe(221);
  });

  it('--show-task-events: the same events; its side-band records are unparsed rows that say what they are', async () => {
    const file = path.join(HOST, 'perf-fields/perf-script-task-events.txt');
    const { db, files } = await ingestTemp([file], { formatsDir: FORMATS });
    try {
      expect(await db.rows(EVENTS)).toEqual(reference.rows);
      expect(files[0].unparsed).toBe(2);
      const reasons = await db.rows<{ reason: string }>(
        'SELECT reason FROM unparsed ORDER BY line_no',
      );
      expect(reasons.map((r) => r.reason)).toEqual([
        "perf's side-band record PERF_RECORD_COMM (perf script --show-*-events), not a sample",
        "perf's side-band record PERF_RECORD_EXIT (perf script --show-*-events), not a sample",
      ]);
    } finally {
      db.close();
    }
  });

  for (const [file, cpus] of [
    ['perf-script-nocpu.txt', 0], // -F comm,pid,tid,time,event,trace
    ['perf-script-misc-tod.txt', 221], // -F +misc,+tod
    ['perf-script-tid-ns.txt', 0], // -F tid,time,event,trace --ns
  ] as const) {
    it(`${file}: the same events; cpu only where printed`, async () => {
      const got = await events(path.join(HOST, 'perf-fields', file));
      expect(got.summary.unparsed).toBe(0);
      expect(got.rows).toEqual(reference.rows);
      expect(got.cpus).toBe(cpus);
    });
  }
});
