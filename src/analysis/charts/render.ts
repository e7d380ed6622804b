// A named chart, from the database to SVG, PNG or its Vega-Lite JSON (data inlined), offline.
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts.js';
import type { Db } from '../db.js';
import { installViews } from '../views.js';
import { chartByName, type ChartParams } from './registry.js';

export interface RenderedChart {
  name: string;
  spec: TopLevelSpec;
  svg: string;
  rows: number;
}

/** Installs the view library (TEMP views) on db unless done already this session. */
const installed = new WeakSet<Db>();
export async function ensureViews(db: Db): Promise<void> {
  if (installed.has(db)) return;
  await installViews(db);
  installed.add(db);
}

export async function renderChart(db: Db, name: string, params: ChartParams = {}): Promise<RenderedChart> {
  const def = chartByName(name);
  await ensureViews(db);
  const rows = await def.data(db, params);
  if (!rows.length) throw new Error(`chart ${name}: no rows (it reads ${def.views.join(', ')}; does the database hold a replayed device-exclusive trace?)`);
  const spec = def.spec(rows, params);
  return { name, spec, svg: await renderSvg(spec), rows: rows.length };
}

export function pngOf(svg: string, zoom = 2): Buffer {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: zoom }, background: 'white' }).render().asPng();
}

/** Writes the chart to file: .svg, .png or .json (Vega-Lite) by its extension. */
export function writeRendered(c: RenderedChart, file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const ext = path.extname(file).toLowerCase();
  if (ext === '.svg') fs.writeFileSync(file, c.svg);
  else if (ext === '.png') fs.writeFileSync(file, pngOf(c.svg));
  else if (ext === '.json') fs.writeFileSync(file, JSON.stringify(c.spec, null, 1));
  else throw new Error(`${file}: write .svg, .png or .json (Vega-Lite)`);
}
