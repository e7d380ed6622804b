// `mmreplay synth --sweep`: the failure-rate surface over request size x race rate (one racer kind),
// per design,
// simulated (no trace is written): a table and a Vega-Lite chart.
import type { TopLevelSpec } from 'vega-lite';
import type { Calibration } from './costs.js';
import { synthesize, type SynthDesign } from './generate.js';
import { clopperPearson } from './lab-results.js';
import { SCENARIOS, type RacerKind, type Rate, type Scenario } from './scenario.js';

export interface SweepOptions {
  designs: SynthDesign[];
  sizes: number[];
  /** The racer whose rate is swept (one thread of it; default dontneed). */
  kind?: RacerKind;
  /** Its rates: operations per second (a pause of mean 1/rate between them) or `lab`. */
  rates: Rate[];
  /** Requests simulated per cell. */
  requests: number;
  seed: number;
  cpus: number;
  calibration?: Calibration;
}

export interface SweepRow {
  design: string;
  npages: number;
  rate: string;
  /** The racer's operations per second of request time, as simulated. */
  ops_per_s: number;
  requests: number;
  failed: number;
  ebusy: number;
  enoent: number;
  failure_rate: number;
  /** Exact binomial 95 % interval of the failure rate. */
  ci_lo: number;
  ci_hi: number;
}

export function sweep(o: SweepOptions, onCell?: (r: SweepRow) => void): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const design of o.designs) {
    for (const [ri, rate] of o.rates.entries()) {
      for (const [si, npages] of o.sizes.entries()) {
        const scenario: Scenario = {
          ...SCENARIOS.dontneed,
          sizes: [npages],
          order: 'lab',
          perSize: o.requests,
          racers: rate === 0 ? [] : [{ kind: o.kind ?? 'dontneed', rate }],
        };
        // The same seed per (rate, size) cell for every design: designs differ only by the kernel.
        const r = synthesize({
          scenario,
          seed: o.seed + 1000 * ri + si,
          events: 0,
          cpus: o.cpus,
          design,
          calibration: o.calibration,
        });
        const [n, failed, ebusy, enoent] = r.bySize.get(npages) ?? [0, 0, 0, 0];
        const [lo, hi] = clopperPearson(failed, n);
        const row = {
          design,
          npages,
          rate: String(rate),
          ops_per_s: Math.round(r.racerOpsPerSecond),
          requests: n,
          failed,
          ebusy,
          enoent,
          failure_rate: n ? failed / n : 0,
          ci_lo: lo,
          ci_hi: hi,
        };
        rows.push(row);
        onCell?.(row);
      }
    }
  }
  return rows;
}

export function sweepCsv(rows: SweepRow[]): string {
  const cols = Object.keys(rows[0] ?? {}) as (keyof SweepRow)[];
  return (
    [
      cols.join(','),
      ...rows.map((r) =>
        cols
          .map((c) =>
            typeof r[c] === 'number' && !Number.isInteger(r[c])
              ? (r[c] as number).toFixed(4)
              : r[c],
          )
          .join(','),
      ),
    ].join('\n') + '\n'
  );
}

/** A lab run's measured failures per size (the race program's log), drawn over the 5.14 panel. */
export interface LabPoint {
  npages: number;
  failure_rate: number;
  ci_lo: number;
  ci_hi: number;
  label: string;
}

const RACER_TITLES: Record<RacerKind, string> = {
  dontneed: 'a MADV_DONTNEED + refault racer',
  uffd_wp: 'a UFFDIO_WRITEPROTECT racer',
  mprotect: 'an mprotect racer',
  fork_exit: 'a forking racer (the child exits)',
  fork_write: 'a forking racer (the child writes 1-8 pages)',
  migrate: 'a move_pages racer',
  pageout: 'a MADV_PAGEOUT racer',
  ksm: 'ksmd merging the pages',
};

const racerLabel = (rate: string) => (rate === 'lab' ? 'lab pace' : `${rate}/s`);

/**
 * Failure rate against request size, a line per race rate, a panel per design; the lab kernel's
 * own results (black, with their 95 % intervals) in the panel of its design, 5.14.
 */
export function sweepSpec(
  rows: SweepRow[],
  lab: LabPoint[] = [],
  kind: RacerKind = 'dontneed',
): TopLevelSpec {
  const racer = RACER_TITLES[kind];
  const designs = [...new Set(rows.map((r) => r.design))];
  const rates = [...new Set(rows.map((r) => r.rate))].sort((a, b) =>
    a === 'lab' ? 1 : b === 'lab' ? -1 : Number(a) - Number(b),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Simulated device-exclusive requests failing, by size and race rate',
      subtitle: `test_hmm against ${racer}; costs calibrated from the lab; shaded: exact 95 % interval`,
    },
    data: {
      values: [
        ...rows.map((r) => ({ ...r, panel: `design ${r.design}`, racer: racerLabel(r.rate) })),
        ...lab.map((l) => ({ ...l, panel: 'design 5.14', kernel: l.label })),
      ],
    },
    facet: {
      column: {
        field: 'panel',
        type: 'nominal',
        title: null,
        sort: designs.map((d) => `design ${d}`),
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
      },
      layer: [
        {
          transform: [{ filter: 'datum.racer != null' }],
          mark: { type: 'area', opacity: 0.15 },
          encoding: {
            y: { field: 'ci_lo', type: 'quantitative' },
            y2: { field: 'ci_hi' },
            color: {
              field: 'racer',
              type: 'ordinal',
              title: `${kind} racer`,
              sort: rates.map(racerLabel),
              scale: { scheme: 'viridis' },
            },
          },
        },
        {
          transform: [{ filter: 'datum.racer != null' }],
          mark: { type: 'line', point: true },
          encoding: {
            color: {
              field: 'racer',
              type: 'ordinal',
              title: `${kind} racer`,
              sort: rates.map(racerLabel),
              scale: { scheme: 'viridis' },
            },
            y: {
              field: 'failure_rate',
              type: 'quantitative',
              axis: { format: '%' },
              title: 'requests failed',
              scale: { domain: [0, 1] },
            },
            tooltip: [
              { field: 'design' },
              { field: 'npages' },
              { field: 'racer' },
              { field: 'requests' },
              { field: 'ebusy' },
              { field: 'enoent' },
              { field: 'ops_per_s', title: 'racer ops/s' },
              { field: 'failure_rate', format: '.1%' },
            ],
          },
        },
        {
          transform: [{ filter: 'datum.kernel != null' }],
          mark: { type: 'rule', color: '#222222' },
          encoding: { y: { field: 'ci_lo', type: 'quantitative' }, y2: { field: 'ci_hi' } },
        },
        {
          transform: [{ filter: 'datum.kernel != null' }],
          mark: { type: 'point', shape: 'diamond', filled: true, color: '#222222', size: 60 },
          encoding: {
            y: { field: 'failure_rate', type: 'quantitative' },
            shape: {
              field: 'kernel',
              type: 'nominal',
              title: 'lab kernel',
              legend: { symbolType: 'diamond' },
            },
          },
        },
      ],
    },
    config: { axis: { grid: true } },
  } as TopLevelSpec;
}
