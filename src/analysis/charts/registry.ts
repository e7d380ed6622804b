// The charts: each a query over the view library and a Vega-Lite spec built from its rows.
// `mmreplay chart NAME DB -o FILE` renders one; notebooks name them in ```chart blocks.
import type { TopLevelSpec } from 'vega-lite';
import type { Db } from '../../store/db.js';
import { quoteString } from '../../store/quote.js';
import {
  CAUSE_COLORS,
  DESIGN_COLORS,
  OUTCOME_COLORS,
  PAGE_OUTCOME_COLORS,
  PTE_COLORS,
  scale,
} from './palette.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
type Row = Record<string, unknown>;
export type ChartParams = Record<string, string | undefined>;

export interface ChartDef {
  name: string;
  describe: string;
  /** Views the chart reads (installed from the library first). */
  views: string[];
  params?: Record<string, string>;
  data(db: Db, p: ChartParams): Promise<Row[]>;
  spec(rows: Row[], p: ChartParams): TopLevelSpec;
}

const num = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);
/** Rows with BIGINTs as numbers (Vega reads JSON numbers). */
export async function rowsOf(db: Db, sql: string): Promise<Row[]> {
  return (await db.rows(sql)).map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, num(v)])),
  );
}

/** Distinct values of key, designs in the order they were proposed (5.14, v8, 6.15), the kernel last. */
const ORDER = ['5.14', 'v8', '6.15', 'kernel'];
const designsIn = (rows: Row[], key = 'design') =>
  [...new Set(rows.map((r) => String(r[key])))].sort(
    (a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b),
  );

const failureBySize: ChartDef = {
  name: 'failure-by-size',
  describe:
    "share of requests failing against request size, one panel per design, the kernel's results drawn in each",
  views: ['exclusive_failure_by_size'],
  async data(db) {
    const rows = await rowsOf(
      db,
      `SELECT series, source, npages, requests, failed, ebusy, enoent, failure_rate FROM exclusive_failure_by_size ORDER BY series, npages`,
    );
    // Each design's panel carries the kernel's series too.
    const designs = designsIn(
      rows.filter((r) => r.source === 'model'),
      'series',
    );
    return designs.flatMap((d) =>
      rows
        .filter((r) => r.series === d || r.series === 'kernel')
        .map((r) => ({ ...r, panel: `design ${d}` })),
    );
  },
  spec(rows) {
    const series = designsIn(rows, 'series');
    return {
      $schema: SCHEMA,
      title: {
        text: 'Device-exclusive requests failing, by size',
        subtitle:
          "each design replayed (coloured) against the kernel's own ioctl results (black, dashed), same requests",
      },
      data: { values: rows },
      facet: {
        column: {
          field: 'panel',
          type: 'nominal',
          title: null,
          sort: series.filter((s) => s !== 'kernel').map((s) => `design ${s}`),
        },
      },
      spec: {
        width: 220,
        height: 200,
        encoding: {
          x: {
            field: 'npages',
            type: 'quantitative',
            scale: { type: 'log', base: 2 },
            title: 'request size (pages)',
          },
          y: {
            field: 'failure_rate',
            type: 'quantitative',
            axis: { format: '%' },
            title: 'requests failed',
            scale: { domain: [0, 1] },
          },
          color: {
            field: 'series',
            type: 'nominal',
            title: 'series',
            scale: scale(DESIGN_COLORS, series),
          },
          tooltip: [
            { field: 'series' },
            { field: 'npages' },
            { field: 'failure_rate', format: '.1%' },
            { field: 'requests' },
            { field: 'ebusy' },
            { field: 'enoent' },
          ],
        },
        // The design's line under the kernel's: thick and solid, then thin and dashed over it.
        layer: [
          {
            transform: [{ filter: "datum.source === 'model'" }],
            mark: { type: 'line', point: { size: 50 }, strokeWidth: 3.5 },
          },
          {
            transform: [{ filter: "datum.source === 'kernel'" }],
            mark: { type: 'line', point: { size: 20 }, strokeWidth: 1.5, strokeDash: [5, 3] },
          },
        ],
      },
    } as TopLevelSpec;
  },
};

const requestOutcomes: ChartDef = {
  name: 'request-outcomes',
  describe: 'how requests ended under each design (0, -EBUSY, -ENOENT), beside the kernel',
  views: ['exclusive_request_results'],
  async data(db) {
    return rowsOf(
      db,
      `SELECT design AS series, result AS outcome, count(*) AS requests FROM exclusive_request_results GROUP BY ALL
       UNION ALL
       SELECT 'kernel', kernel_result, count(*) FROM exclusive_request_results
       WHERE kernel_result IS NOT NULL AND design = (SELECT min(design) FROM exclusive_request_results) GROUP BY ALL ORDER BY ALL`,
    );
  },
  spec(rows) {
    const series = designsIn(rows, 'series');
    return {
      $schema: SCHEMA,
      title: {
        text: 'How requests ended, per design and in the kernel',
        subtitle:
          '0: all pages exclusive; -EBUSY: a page failed; -ENOENT: exclusivity revoked before test_hmm read it back',
      },
      width: 480,
      height: 30 * series.length,
      data: { values: rows },
      mark: 'bar',
      encoding: {
        y: { field: 'series', type: 'nominal', title: null, sort: series },
        x: { field: 'requests', type: 'quantitative', stack: 'zero' },
        color: {
          field: 'outcome',
          type: 'nominal',
          title: 'result',
          scale: scale(OUTCOME_COLORS, designsIn(rows, 'outcome')),
        },
        tooltip: [{ field: 'series' }, { field: 'outcome' }, { field: 'requests' }],
      },
    } as TopLevelSpec;
  },
};

const windows: ChartDef = {
  name: 'windows',
  describe:
    'GUP-to-walk window of each page (how long a pinned page waited for its walk), failed against exclusive pages',
  views: ['exclusive_page_windows'],
  async data(db) {
    return rowsOf(
      db,
      `WITH w AS (SELECT design, outcome, greatest(floor(log2(greatest(window_us, 1))), 0)::INT AS b FROM exclusive_page_windows WHERE window_us IS NOT NULL)
       , c AS (SELECT design, outcome, b, count(*) AS pages FROM w GROUP BY design, outcome, b)
       SELECT design, outcome, b, power(2, b)::INT AS lo_us, pages, pages / sum(pages) OVER (PARTITION BY design, outcome) AS share
       FROM c ORDER BY design, outcome, b`,
    );
  },
  spec(rows) {
    return {
      $schema: SCHEMA,
      title: {
        text: 'GUP-to-walk window: failed pages against exclusive ones',
        subtitle:
          "share of each outcome's pages by window (log2 bins); a page fails when the CPU side takes it within its window",
      },
      data: { values: rows },
      facet: { row: { field: 'design', type: 'nominal', title: 'design', sort: designsIn(rows) } },
      spec: {
        width: 480,
        height: 110,
        mark: 'bar',
        encoding: {
          x: {
            field: 'lo_us',
            type: 'ordinal',
            title: 'window from (µs, bins of ×2)',
            sort: 'ascending',
          },
          xOffset: { field: 'outcome', type: 'nominal' },
          y: { field: 'share', type: 'quantitative', axis: { format: '%' }, title: 'pages' },
          color: {
            field: 'outcome',
            type: 'nominal',
            title: 'page',
            scale: scale(PAGE_OUTCOME_COLORS, designsIn(rows, 'outcome')),
          },
          tooltip: [
            { field: 'design' },
            { field: 'outcome' },
            { field: 'lo_us', title: 'window ≥ µs' },
            { field: 'pages' },
            { field: 'share', format: '.1%' },
          ],
        },
      },
    } as TopLevelSpec;
  },
};

const causesOverTime: ChartDef = {
  name: 'causes-over-time',
  describe: 'failed pages by cause over the trace, per design',
  views: ['failure_causes_over_time'],
  async data(db) {
    return rowsOf(
      db,
      `SELECT design, bin_start_s, bin_start_s + bin_s AS bin_end_s, cause, pages FROM failure_causes_over_time ORDER BY ALL`,
    );
  },
  spec(rows) {
    return {
      $schema: SCHEMA,
      title: {
        text: 'Failed pages by cause, over the trace',
        subtitle: 'pages the walk found no longer exclusive-able, by when they were walked',
      },
      data: { values: rows },
      facet: { row: { field: 'design', type: 'nominal', title: 'design', sort: designsIn(rows) } },
      spec: {
        width: 480,
        height: 100,
        mark: 'bar',
        encoding: {
          x: { field: 'bin_start_s', type: 'quantitative', title: 'seconds since the trace began' },
          x2: { field: 'bin_end_s' },
          y: { field: 'pages', type: 'quantitative', stack: 'zero', title: 'failed pages' },
          color: {
            field: 'cause',
            type: 'nominal',
            scale: scale(CAUSE_COLORS, designsIn(rows, 'cause')),
          },
          tooltip: [
            { field: 'design' },
            { field: 'cause' },
            { field: 'bin_start_s', format: '.3f' },
            { field: 'pages' },
          ],
        },
      },
    } as TopLevelSpec;
  },
};

/** The request a range chart shows: `request` if given, else the first failed request of ≤ 64 pages. */
export async function pickRequest(
  db: Db,
  p: ChartParams,
): Promise<{ design: string; request_id: number } | null> {
  const design = p.design ? `design = ${quoteString(p.design)}` : 'true';
  const req = p.request
    ? `request_id = ${Number(p.request)}`
    : `failed AND npages <= 64 AND failed_pages > 0`;
  const [r] = await rowsOf(
    db,
    `SELECT design, request_id FROM exclusive_request_results WHERE ${design} AND ${req} ORDER BY request_id, design LIMIT 1`,
  );
  return r ? { design: String(r.design), request_id: Number(r.request_id) } : null;
}

const rangeTimeline: ChartDef = {
  name: 'range-timeline',
  describe:
    "one request's range: each page's PTE state over time, the GUP pin, the walk and the culprit events",
  views: ['pte_states', 'exclusive_request_pages', 'exclusive_request_results'],
  params: {
    request: 'request_id (default: the first failed request of at most 64 pages)',
    design: 'design (default: the first with that request)',
  },
  async data(db, p) {
    const r = await pickRequest(db, p);
    if (!r) return [];
    const where = `design = ${quoteString(r.design)} AND request_id = ${r.request_id}`;
    const [q] = await rowsOf(
      db,
      `SELECT file_id, mm, ts, dur, npages, start_va, result, kernel_result FROM exclusive_request_results WHERE ${where}`,
    );
    const t0 = Number(q.ts);
    const t1 = t0 + Number(q.dur);
    const margin = Math.max(Number(q.dur) * 0.1, 20_000);
    const [lo, hi] = [t0 - margin, t1 + margin];
    const us = (col: string) => `(${col} - ${t0}) / 1000.0`;
    const label = {
      request_id: r.request_id,
      design: r.design,
      result: q.result,
      kernel_result: q.kernel_result,
      npages: q.npages,
    };
    const ptes = await rowsOf(
      db,
      `SELECT 'pte' AS layer, ((va - ${q.start_va}) // 4096)::INT AS page, state, ${us(`greatest(ts, ${lo})`)} AS t, ${us(`least(end_ts, ${hi})`)} AS t2, source
       FROM pte_states WHERE file_id = ${q.file_id} AND mm = ${q.mm} AND va >= ${q.start_va} AND va < ${q.start_va} + ${q.npages} * 4096
         AND ts < ${hi} AND end_ts > ${lo}`,
    );
    const pages = await rowsOf(
      db,
      `SELECT ((address - ${q.start_va}) // 4096)::INT AS page, outcome, cause, ${us('pin_ts')} AS pin, ${us('walk_ts')} AS walk,
              ${us('culprit_ts')} AS culprit_t, culprit, culprit_syscall, culprit_comm
       FROM exclusive_request_pages WHERE ${where}`,
    );
    const marks = pages.flatMap((x) => [
      { layer: 'walk', page: x.page, t: x.walk, outcome: x.outcome, cause: x.cause },
      { layer: 'pin', page: x.page, t: x.pin },
      ...(x.culprit_t != null
        ? [
            {
              layer: 'culprit',
              page: x.page,
              t: x.culprit_t,
              culprit: `${x.culprit_comm} ${x.culprit_syscall ?? x.culprit}`,
            },
          ]
        : []),
    ]);
    return [...ptes, ...marks].map((x) => ({ ...x, ...label }));
  },
  spec(rows) {
    const r0 = rows[0] ?? {};
    const states = designsIn(
      rows.filter((r) => r.layer === 'pte'),
      'state',
    );
    const n = Number(r0.npages ?? 1);
    const h = Math.min(Math.max(n * 16, 160), 520);
    return {
      $schema: SCHEMA,
      title: {
        text: `Request ${r0.request_id} (${r0.npages} pages) under design ${r0.design}: ${r0.result}, kernel ${r0.kernel_result ?? 'not traced'}`,
        subtitle:
          'PTE state of each page over time (blank: no PTE); | GUP pin, ▶ walk (red: page failed), ✕ the event that took the pinned page',
      },
      width: 720,
      height: h,
      data: { values: rows },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'µs since the ioctl began' },
        y: {
          field: 'page',
          type: 'quantitative',
          title: 'page in range',
          scale: { reverse: true, domain: [0, n] },
        },
      },
      layer: [
        {
          transform: [
            { filter: "datum.layer === 'pte'" },
            { calculate: 'datum.page + 0.9', as: 'page2' },
          ],
          mark: { type: 'rect' },
          encoding: {
            x2: { field: 't2' },
            y2: { field: 'page2' },
            color: {
              field: 'state',
              type: 'nominal',
              title: 'PTE',
              scale: scale(PTE_COLORS, states),
            },
            tooltip: [
              { field: 'page' },
              { field: 'state' },
              { field: 'source', title: 'set by' },
              { field: 't', format: '.1f' },
              { field: 't2', format: '.1f' },
            ],
          },
        },
        {
          transform: [
            { filter: "datum.layer === 'pin'" },
            { calculate: 'datum.page + 0.45', as: 'mid' },
          ],
          mark: { type: 'tick', orient: 'vertical', color: '#555555', thickness: 1 },
          encoding: { y: { field: 'mid', type: 'quantitative' } },
        },
        {
          transform: [
            { filter: "datum.layer === 'walk'" },
            { calculate: 'datum.page + 0.45', as: 'mid' },
          ],
          mark: { type: 'point', shape: 'triangle-right', filled: true, size: 30 },
          encoding: {
            y: { field: 'mid', type: 'quantitative' },
            fill: {
              field: 'outcome',
              type: 'nominal',
              title: 'walk',
              scale: { domain: ['exclusive', 'failed'], range: ['#3a3a3a', '#d62728'] },
            },
            tooltip: [
              { field: 'page' },
              { field: 'outcome' },
              { field: 'cause' },
              { field: 't', format: '.1f' },
            ],
          },
        },
        {
          transform: [
            { filter: "datum.layer === 'culprit'" },
            { calculate: 'datum.page + 0.45', as: 'mid' },
          ],
          mark: {
            type: 'point',
            shape: 'cross',
            filled: true,
            size: 90,
            color: '#000000',
            angle: 45,
          },
          encoding: {
            y: { field: 'mid', type: 'quantitative' },
            tooltip: [{ field: 'page' }, { field: 'culprit' }, { field: 't', format: '.1f' }],
          },
        },
      ],
      resolve: { scale: { color: 'independent' } },
    } as TopLevelSpec;
  },
};

const culprits: ChartDef = {
  name: 'culprits',
  describe: 'which processes and syscalls took pinned pages away, per design',
  views: ['culprit_processes'],
  async data(db) {
    return rowsOf(
      db,
      `SELECT design, comm || ' (' || tid || ') ' || syscall AS who, pages, events, requests FROM culprit_processes ORDER BY pages DESC`,
    );
  },
  spec(rows) {
    const designs = designsIn(rows);
    return {
      $schema: SCHEMA,
      title: {
        text: 'Culprits: who took the pinned pages',
        subtitle:
          'failed pages by the process and syscall whose event replaced or write-protected them; one bar per design',
      },
      width: 420,
      data: { values: rows },
      mark: 'bar',
      encoding: {
        y: { field: 'who', type: 'nominal', title: null, sort: '-x' },
        yOffset: { field: 'design', type: 'nominal', sort: designs },
        x: { field: 'pages', type: 'quantitative', title: 'failed pages' },
        color: { field: 'design', type: 'nominal', scale: scale(DESIGN_COLORS, designs) },
        tooltip: [
          { field: 'design' },
          { field: 'who' },
          { field: 'pages' },
          { field: 'events' },
          { field: 'requests' },
        ],
      },
    } as TopLevelSpec;
  },
};

export const CHARTS: ChartDef[] = [
  failureBySize,
  requestOutcomes,
  windows,
  causesOverTime,
  rangeTimeline,
  culprits,
];

export function chartByName(name: string): ChartDef {
  const c = CHARTS.find((x) => x.name === name);
  if (!c)
    throw new Error(`no chart named ${name}; charts: ${CHARTS.map((x) => x.name).join(', ')}`);
  return c;
}
