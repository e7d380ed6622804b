// The analysis layer on a real lab trace: traces/lab/6.12/race-dontneed up to its 128-page requests
// (the 120 requests of 1 to 64 pages, replayed under the three designs) through the view
// library, the charts, the notebooks' HTML report (opened in headless Chromium), and the Perfetto
// export read back.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { CHARTS } from '../src/analysis/charts/registry.js';
import { renderChart } from '../src/analysis/charts/render.js';
import { DESIGN_COLORS, OUTCOME_COLORS } from '../src/analysis/charts/palette.js';
import { runNotebook } from '../src/analysis/notebook/run.js';
import { perfettoTrace, type TraceEvent } from '../src/analysis/perfetto.js';
import { installViews, publicViews } from '../src/analysis/views.js';
import { exportParquetTree, openParquetTree } from '../src/analysis/parquet.js';
import { replay } from '../src/replay/replay.js';
import { Browser, CHROMIUM } from './browser.js';
import { ingestTemp, ROOT, tmpDir } from './helpers.js';

const RUN = path.join(ROOT, 'traces/lab/6.12/race-dontneed');
// Between requests: request 120 (64 pages) returns at 40.149246 s; the program logs request 121
// (128 pages) at 40.149406008 s. The window starts with the trace: the model must see the region
// mapped to know which pages GUP pins.
const TO = 40_149_300_000n;

let db: Db;
let dbFile: string;
const out = tmpDir('mmreplay-analysis-');

beforeAll(async () => {
  const r = await ingestTemp([path.join(RUN, 'trace.txt.xz')], { filter: { toNs: TO } });
  r.db.close();
  dbFile = r.dbFile;
  await replay(dbFile, { designs: ['5.14', 'v8', '6.15'] });
  db = await Db.open(dbFile);
  await installViews(db);
});

afterAll(() => db?.close());

const n = (v: unknown) => Number(v);

describe('view library on a replayed lab trace', () => {
  it('every view installs, and its columns are exactly the documented ones', async () => {
    for (const v of publicViews().filter((v) => v.kind === 'view')) {
      const cols = await db.rows<{ column_name: string }>(`DESCRIBE SELECT * FROM ${v.name}`);
      expect(
        cols.map((c) => c.column_name),
        v.name,
      ).toEqual(v.columns.map((c) => c.name));
      await db.rows(`SELECT * FROM ${v.name} LIMIT 1`);
    }
  });

  it("the failure-by-size numbers (the chart's data) equal the race program's own per-size failure fractions", async () => {
    // RACE_CALL lines: the program's record of each HMM_DMIRROR_EXCLUSIVE ioctl, with its clock_ns.
    const log = new Map<number, { n: number; failed: number }>();
    for (const line of fs.readFileSync(path.join(RUN, 'stdout.log'), 'utf8').split('\n')) {
      if (!line.startsWith('RACE_CALL ')) continue;
      const f = Object.fromEntries(
        line
          .split(' ')
          .slice(1)
          .map((kv) => kv.split('=')),
      );
      const t = BigInt(f.clock_ns);
      if (t > TO) continue;
      const s = log.get(Number(f.npages)) ?? { n: 0, failed: 0 };
      s.n++;
      if (Number(f.ret) !== 0) s.failed++;
      log.set(Number(f.npages), s);
    }
    expect([...log.keys()]).toEqual([1, 4, 16, 64]);
    const kernel = await db.rows<{
      npages: number;
      requests: bigint;
      failed: bigint;
      failure_rate: number;
    }>(
      `SELECT npages, requests, failed, failure_rate FROM exclusive_failure_by_size WHERE series = 'kernel' ORDER BY npages`,
    );
    expect(kernel.map((k) => [k.npages, n(k.requests), n(k.failed)])).toEqual(
      [...log].map(([s, v]) => [s, v.n, v.failed]),
    );
    for (const k of kernel)
      expect(k.failure_rate).toBeCloseTo(log.get(k.npages)!.failed / log.get(k.npages)!.n, 12);
    // The chart draws exactly these rows (each design's panel repeats the kernel's series).
    const c = await CHARTS.find((x) => x.name === 'failure-by-size')!.data(db, {});
    const drawn = c
      .filter((r) => r.series === 'kernel' && r.panel === 'design 5.14')
      .map((r) => [r.npages, r.failure_rate]);
    expect(drawn).toEqual(kernel.map((k) => [k.npages, k.failure_rate]));
  });

  it('5.14 and v8 decide every request alike here, so the chart must keep both visible: one panel each', async () => {
    expect(
      await db.rows(
        `SELECT requests, same_result FROM design_pairs WHERE design_a = '5.14' AND design_b = 'v8'`,
      ),
    ).toEqual([{ requests: 120n, same_result: 120n }]);
    const c = await renderChart(db, 'failure-by-size');
    expect(c.svg).toMatch(/design 5\.14[\s\S]*design v8[\s\S]*design 6\.15/);
    // The kernel's colour is no outcome's colour, and no design's.
    const kernel = DESIGN_COLORS.kernel;
    expect(Object.values(OUTCOME_COLORS)).not.toContain(kernel);
    expect(
      Object.entries(DESIGN_COLORS).filter(([k, v]) => k !== 'kernel' && v === kernel),
    ).toEqual([]);
  });

  it('every chart renders to an SVG with marks', async () => {
    for (const def of CHARTS) {
      const c = await renderChart(db, def.name);
      expect(c.svg, def.name).toMatch(/^<svg/);
      expect((c.svg.match(/<path|<rect|<line/g) ?? []).length, def.name).toBeGreaterThan(10);
    }
  });

  it('a failed page is explained: culprit event, its syscall, and the kernel agrees it failed', async () => {
    const rows = await db.rows(
      `SELECT cause, culprit, culprit_syscall, culprit_comm, count(*) AS pages, count(*) FILTER (kernel_outcome = 'failed') AS kernel_failed
       FROM exclusive_request_pages WHERE design = '5.14' AND outcome = 'failed' GROUP BY ALL`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      cause: 'replaced',
      culprit: 'syscalls:sys_enter_madvise',
      culprit_syscall: 'madvise',
      culprit_comm: 'race',
    });
    expect(n(rows[0].kernel_failed)).toBeGreaterThan(n(rows[0].pages) * 0.9);
  });
});

describe('Perfetto export', () => {
  let t: { traceEvents: TraceEvent[] };
  beforeAll(async () => {
    t = JSON.parse(JSON.stringify(await perfettoTrace(db)));
  });

  it('is valid trace-event JSON: known phases, numeric ts, ts never decreasing per track, async slices paired', () => {
    const last = new Map<string, number>();
    const open = new Map<string, number>();
    for (const e of t.traceEvents) {
      expect(['X', 'b', 'e', 'i', 'C', 'M']).toContain(e.ph);
      expect(typeof e.name).toBe('string');
      expect(Number.isFinite(e.ts) && Number.isInteger(e.pid)).toBe(true);
      if (e.ph === 'M') continue;
      const track = `${e.pid}/${e.tid ?? ''}`;
      expect(e.ts, track).toBeGreaterThanOrEqual(last.get(track) ?? -Infinity);
      last.set(track, e.ts);
      if (e.ph === 'X') expect(e.dur).toBeGreaterThanOrEqual(0);
      if (e.ph === 'b') open.set(`${e.cat}/${e.id}`, e.ts);
      if (e.ph === 'e') {
        expect(open.get(`${e.cat}/${e.id}`)).toBeLessThanOrEqual(e.ts);
        open.delete(`${e.cat}/${e.id}`);
      }
    }
    expect(open.size).toBe(0);
  });

  it('parses back into the same requests, windows and culprits', async () => {
    const req = t.traceEvents
      .filter((e) => e.cat === 'request')
      .map((e) => `${e.args!.design}/${e.args!.request_id}`)
      .sort();
    const dbReq = (
      await db.rows<{ k: string }>(
        `SELECT design || '/' || request_id AS k FROM exclusive_requests ORDER BY k`,
      )
    )
      .map((r) => r.k)
      .sort();
    expect(req).toEqual(dbReq);
    // Requests nest their calls.
    const byTid = new Map(t.traceEvents.filter((e) => e.cat === 'request').map((e) => [e.tid, e]));
    for (const c of t.traceEvents.filter((e) => e.cat === 'call')) {
      const r = byTid.get(c.tid)!;
      expect(c.ts).toBeGreaterThanOrEqual(r.ts);
      expect(c.ts + c.dur!).toBeLessThanOrEqual(r.ts + r.dur! + 1e-6);
    }
    const windows = t.traceEvents.filter((e) => e.cat === 'window' && e.ph === 'b');
    const [w] = await db.rows<{ n: bigint; failed: bigint }>(
      `SELECT count(*) n, count(*) FILTER (outcome = 'failed') failed FROM exclusive_page_windows WHERE window_ns IS NOT NULL`,
    );
    expect(windows.length).toBe(n(w.n));
    expect(windows.filter((e) => e.args!.outcome === 'failed').length).toBe(n(w.failed));
    // Culprits: once per event on the mm track of the task that ran it.
    const onMm = t.traceEvents
      .filter((e) => e.cat === 'culprit' && e.pid < 2_000_000)
      .map((e) => n(e.args!.event_id))
      .sort((a, b) => a - b);
    const dbCulprits = (
      await db.rows<{ id: bigint }>(`SELECT DISTINCT culprit_event AS id FROM culprit_events`)
    )
      .map((r) => n(r.id))
      .sort((a, b) => a - b);
    expect(onMm).toEqual(dbCulprits);
    expect(onMm.length).toBeGreaterThan(10);
    expect(t.traceEvents.some((e) => e.ph === 'C' && e.name === 'rss (pages)')).toBe(true);
  });
});

describe('notebook report', () => {
  const report = path.join(out, 'review.html');
  let charts = 0;

  it('runs the review notebook into one self-contained page: charts inline as SVG, nothing fetched', async () => {
    const r = await runNotebook(db, path.join(ROOT, 'notebooks/review.md'));
    fs.writeFileSync(report, r.html);
    charts = r.charts;
    expect(charts).toBeGreaterThanOrEqual(5);
    expect((r.html.match(/<figure class="chart"/g) ?? []).length).toBe(charts);
    // No script, stylesheet, image or font from anywhere (namespace URIs in SVG are not fetches).
    expect(r.html).not.toMatch(/<script|<link|<img|@import|url\(http|src=/);
    expect(r.html).toMatch(/One failed request, page by page[\s\S]*Trace quality/);
  });

  it.skipIf(!fs.existsSync(CHROMIUM))(
    'renders in headless Chromium: every chart an SVG with marks, no console errors; screenshot saved',
    async () => {
      expect(fs.existsSync(report)).toBe(true);
      const browser = await Browser.launch();
      try {
        const page = await browser.open(`file://${report}`);
        const figs = await page.evaluate<
          { name: string; marks: number; width: number; height: number }[]
        >(
          `[...document.querySelectorAll('figure.chart')].map((f) => { const s = f.querySelector('svg'); const b = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
          return { name: f.dataset.chart, marks: s ? s.querySelectorAll('path, rect, line').length : 0, width: b.width, height: b.height }; })`,
        );
        expect(figs.length).toBe(charts);
        for (const f of figs) {
          expect(f.marks, f.name).toBeGreaterThan(10);
          expect(f.width * f.height, f.name).toBeGreaterThan(100 * 100);
        }
        expect(page.errors).toEqual([]);
        const png = await page.screenshot();
        expect(png.subarray(1, 4).toString()).toBe('PNG');
        const shot = path.join(ROOT, 'out/test/report.png');
        fs.mkdirSync(path.dirname(shot), { recursive: true });
        fs.writeFileSync(shot, png);
      } finally {
        await browser.close();
      }
    },
  );

  it('mmreplay compare writes the design comparison report', () => {
    db.close();
    const file = path.join(out, 'compare.html');
    const o = execFileSync(
      path.join(ROOT, 'bin/mmreplay.js'),
      ['compare', dbFile, '--designs', '5.14,6.15', '-o', file],
      { encoding: 'utf8' },
    );
    expect(o).toMatch(/compare\.html: Device-exclusive designs compared \(2 charts/);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toMatch(/<td>5\.14<\/td><td>6\.15<\/td>/);
    expect(html).not.toMatch(/<td>v8<\/td>/);
  });
});

describe('Parquet tree (export --parquet)', () => {
  it("two traces in one Hive-partitioned tree: the view library runs unchanged, each trace's ids kept apart", async () => {
    const dir = path.join(out, 'pq');
    // The same database twice, as two traces (the test's own handle was closed by the test above).
    await exportParquetTree(dbFile, dir, 'a');
    const tables = await exportParquetTree(dbFile, dir, 'b');
    expect(tables).toContain('exclusive_requests');
    expect(tables.some((t) => t.startsWith('_'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'exclusive_requests', 'trace=b', 'data.parquet'))).toBe(
      true,
    );
    const one = await Db.open(dbFile, { readOnly: true });
    await installViews(one);
    const q = {
      bySize: `SELECT series, npages, requests::INT AS requests, failed::INT AS failed, failure_rate FROM exclusive_failure_by_size ORDER BY ALL`,
      culprits: `SELECT count(*)::INT AS n, sum(pages)::INT AS pages FROM culprit_events`,
      pages: `SELECT count(*)::INT AS n FROM exclusive_request_pages WHERE culprit_syscall = 'madvise'`,
    };
    const single = {
      bySize: await one.rows(q.bySize),
      culprits: await one.rows(q.culprits),
      pages: await one.rows(q.pages),
    };
    one.close();
    const tree = await openParquetTree(dir);
    try {
      const r = await installViews(tree);
      expect(r.skipped).toEqual([]);
      expect(
        await tree.rows(
          `SELECT trace, count(*)::INT AS n FROM files GROUP BY trace ORDER BY trace`,
        ),
      ).toEqual([
        { trace: 'a', n: 1 },
        { trace: 'b', n: 1 },
      ]);
      const both = await tree.rows<Record<string, number>>(q.bySize);
      expect(both).toEqual(
        single.bySize.map((x) => ({
          ...x,
          requests: 2 * Number(x.requests),
          failed: 2 * Number(x.failed),
        })),
      );
      const [c] = await tree.rows<{ n: number; pages: number }>(q.culprits);
      expect(c).toEqual({
        n: 2 * Number(single.culprits[0].n),
        pages: 2 * Number(single.culprits[0].pages),
      });
      expect(await tree.rows(q.pages)).toEqual([{ n: 2 * Number(single.pages[0].n) }]);
    } finally {
      tree.close();
    }
  });
});
