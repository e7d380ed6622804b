// perf.data ingests to the rows `perf script` prints for the same file (parsed by the text
// reader): the host captures' perf.data (perf 6.1 on Linux 6.18, tracepoints only: this kernel
// has no kprobe_events), traces/host/perf-system-wide (perf record -a: perf's dummy event for
// side-band records has a sample layout of its own, records name their event by id) and
// traces/host/perf-lost, recorded with a one-page buffer so that perf reports lost samples. perf script prints µs, truncated: compared as ts_ns // 1000.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.js';
import { HOST, ingestTemp, tmpDir } from './helpers.js';

/** Events of file 0 (perf.data) and file 1 (perf script) in time order: how many disagree. */
async function eventDifferences(db: Db): Promise<number> {
  const side = (f: number) =>
    `SELECT *, row_number() OVER (ORDER BY id) AS r FROM events WHERE file_id = ${f}`;
  const [{ bad }] = await db.rows<{ bad: bigint }>(
    `SELECT count(*) AS bad FROM (${side(0)}) a FULL JOIN (${side(1)}) b USING (r)
     WHERE a.id IS NULL OR b.id IS NULL OR a.ts_ns // 1000 <> b.ts_ns // 1000 OR a.cpu <> b.cpu OR a.tid <> b.tid OR a.comm <> b.comm OR a.event <> b.event`,
  );
  return Number(bad);
}

/** Typed rows of file 0 that file 1 lacks or has more often, per table. */
async function typedDifferences(db: Db): Promise<Record<string, number>> {
  const tables = await db.rows<{ t: string }>(
    `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE column_name = 'id' AND table_name NOT IN ('_events', 'events', 'other_events', 'field_errors') ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const cols = (
      await db.rows<{ c: string }>(
        `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${t}' AND column_name <> 'id' ORDER BY ordinal_position`,
      )
    ).map((r) => `"${r.c}"`);
    const [{ n1 }] = await db.rows<{ n1: bigint }>(
      `SELECT count(*) AS n1 FROM "${t}" JOIN events e USING (id) WHERE e.file_id = 1`,
    );
    if (!n1) {
      // An event the text reader has no format for (sched_switch in a system-wide recording) stays
      // in perf script's other_events, untyped: there it must have as many rows.
      const [{ a }] = await db.rows<{ a: bigint }>(
        `SELECT abs((SELECT count(*) FROM "${t}") - (SELECT count(*) FROM other_events o JOIN events e USING (id) WHERE e.file_id = 1 AND e.event = (SELECT any_value(e0.event) FROM "${t}" JOIN events e0 USING (id))))::BIGINT AS a`,
      );
      out[t] = Number(a);
      continue;
    }
    const keys = ['t', 'tid', ...cols].join(', ');
    const sel = (f: number) =>
      `SELECT e.ts_ns // 1000 AS t, e.tid, ${cols.map((c) => `x.${c}`).join(', ')}, ${f} AS f FROM "${t}" x JOIN events e USING (id) WHERE e.file_id = ${f}`;
    const [{ a }] = await db.rows<{ a: bigint }>(
      `SELECT coalesce(sum(abs(n0 - n1)), 0)::BIGINT AS a FROM (SELECT ${keys}, count(*) FILTER (WHERE f = 0) AS n0, count(*) FILTER (WHERE f = 1) AS n1 FROM (${sel(0)} UNION ALL ${sel(1)}) GROUP BY ${keys})`,
    );
    out[t] = Number(a);
  }
  return out;
}

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('perf.data', () => {
  // Every host capture with a perf.data (perf-lost has its own test below).
  const captures = fs
    .readdirSync(HOST)
    .filter((w) => w !== 'perf-lost' && fs.existsSync(path.join(HOST, w, 'perf.data')));
  it('covers every bundled perf.data', () => expect(captures.length).toBeGreaterThanOrEqual(8));
  for (const w of captures) {
    it(`host ${w}: perf.data = perf script, event for event and field for field`, async () => {
      const d = path.join(HOST, w);
      const { db, files } = await ingestTemp([
        path.join(d, 'perf.data'),
        path.join(d, 'perf-script.txt'),
      ]);
      expect(files[0]).toMatchObject({ format: 'perf-data', lost: 0, events: files[1].events });
      expect(files[0].metadata).toMatchObject({
        kernel_release: expect.stringMatching(/^6\.18\.44-fc-v\d+$/),
        perf_version: expect.stringMatching(/^6\.1\.\d+$/),
      });
      expect(await eventDifferences(db)).toBe(0);
      expect(Object.entries(await typedDifferences(db)).filter(([, n]) => n)).toEqual([]);
      db.close();
    }, 180_000);
  }

  it('perf script of perf record -g: each call chain frame is a callchain_frames row of its sample, and goes with it when filtered', async () => {
    const text = path.join(HOST, 'perf-callchain/perf-script.txt');
    const lines = fs.readFileSync(text, 'utf8').split('\n');
    const frames = lines.filter((l) => l.startsWith('\t')).length;
    const { db, files } = await ingestTemp([text]);
    expect(files[0]).toMatchObject({ format: 'perf', events: 234, unparsed: 0 });
    expect(frames).toBe(2275);
    const [all] = await db.rows<{ n: bigint; orphans: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE e.id IS NULL) AS orphans
       FROM callchain_frames f LEFT JOIN events e ON e.file_id = f.file_id AND e.line_no = f.event_line_no`,
    );
    expect(all).toEqual({ n: BigInt(frames), orphans: 0n });
    // Where rss_stat fired, as printed: `ffffffff815fe696 mm_trace_rss_stat+0x46 ([kernel.kallsyms])`.
    expect(
      await db.rows(
        `SELECT f.ip, f.symbol, f.dso FROM callchain_frames f JOIN events e ON e.file_id = f.file_id AND e.line_no = f.event_line_no
         WHERE f.depth = 0 AND e.event = 'kmem:rss_stat' ORDER BY f.line_no LIMIT 1`,
      ),
    ).toEqual([
      { ip: 0xffffffff815fe696n, symbol: 'mm_trace_rss_stat+0x46', dso: '[kernel.kallsyms]' },
    ]);
    db.close();
    // The workload's samples after its exec (comm dontneed) carry 1,144 of the frames.
    const kept = await ingestTemp([text], { filter: { comm: 'dontneed' } });
    expect(await kept.db.rows('SELECT count(*) AS n FROM callchain_frames')).toEqual([
      { n: 1144n },
    ]);
    kept.db.close();
  });

  it('PERF_RECORD_LOST becomes lost_events; the LOST_SAMPLES that repeat them stay in metadata', async () => {
    const d = path.join(HOST, 'perf-lost');
    const { db, files } = await ingestTemp([
      path.join(d, 'perf.data'),
      path.join(d, 'perf-script.txt'),
    ]);
    expect(files[0]).toMatchObject({ events: 1389, lost: 34 });
    expect(files[0].metadata).toMatchObject({ lost_records: 34, lost_samples: 34 });
    // lost-events.txt: `perf script --show-lost-events`: lost 33 on CPU 1, then lost 1 on CPU 0.
    expect(await db.rows('SELECT cpu, count FROM lost_events ORDER BY line_no')).toEqual([
      { cpu: 1, count: 33n },
      { cpu: 0, count: 1n },
    ]);
    expect(await eventDifferences(db)).toBe(0);
    expect(Object.entries(await typedDifferences(db)).filter(([, n]) => n)).toEqual([]);
    db.close();
  }, 180_000);

  it('names the file and byte offset of a truncated perf.data', async () => {
    const good = fs.readFileSync(path.join(HOST, 'perf-lost/perf.data'));
    const p = path.join(dir, 'truncated.perf.data');
    fs.writeFileSync(p, good.subarray(0, 20000));
    await expect(ingestTemp([p])).rejects.toThrow(
      /truncated\.perf\.data: byte \d+: .*past the end of the file/,
    );
  });
});
