// Vega-Lite charts for patch review, rendered to SVG (vega, no canvas) and PNG (resvg).
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** Writes NAME.vl.json, NAME.svg and NAME.png into dir; returns the paths. */
export async function writeChart(spec: TopLevelSpec, dir: string, name: string): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const svg = await renderSvg(spec);
  const base = path.join(dir, name);
  fs.writeFileSync(`${base}.vl.json`, JSON.stringify(spec, null, 1));
  fs.writeFileSync(`${base}.svg`, svg);
  fs.writeFileSync(`${base}.png`, new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white' }).render().asPng());
  return [`${base}.svg`, `${base}.png`, `${base}.vl.json`];
}

/** Share of requests failing by request size, one line per design (and the kernel's own results). */
export function failureBySizeSpec(rows: { design: string; npages: number; failure_rate: number; requests: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'HMM_DMIRROR_EXCLUSIVE requests failing (-EBUSY or -ENOENT), by request size' },
    width: 480,
    height: 280,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'npages', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'request size (pages)' },
      y: { field: 'failure_rate', type: 'quantitative', axis: { format: '%' }, title: 'requests failed', scale: { domain: [0, 1] } },
      color: { field: 'design', type: 'nominal', title: 'design' },
      tooltip: [{ field: 'design' }, { field: 'npages' }, { field: 'failure_rate', format: '.1%' }, { field: 'requests' }],
    },
  };
}

/** Request outcomes (0, -EBUSY, -ENOENT, ...) per design, beside the kernel's own results. */
export function outcomesSpec(rows: { design: string; outcome: string; requests: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'requests by result: 0 (exclusive), -EBUSY (a page failed), -ENOENT (exclusivity revoked before the read)' },
    width: 480,
    height: 160,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      y: { field: 'design', type: 'nominal', title: null },
      x: { field: 'requests', type: 'quantitative', stack: 'zero' },
      color: { field: 'outcome', type: 'nominal', sort: ['0', '-EBUSY', '-ENOENT'] },
      tooltip: [{ field: 'design' }, { field: 'outcome' }, { field: 'requests' }],
    },
  };
}
