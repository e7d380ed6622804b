// A named chart, from the database to SVG, PNG or its Vega-Lite JSON (data inlined), offline.
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts.js';
import type { Db } from '../../store/db.js';
import { installViews, type InstallResult } from '../views.js';
import { chartByName, type ChartParams } from './registry.js';

export interface RenderedChart {
  name: string;
  spec: TopLevelSpec;
  svg: string;
  rows: number;
}

/** Installs the view library (TEMP views) on db unless done already this session. */
const installed = new WeakMap<Db, InstallResult>();
export async function ensureViews(db: Db): Promise<InstallResult> {
  let r = installed.get(db);
  if (!r) {
    r = await installViews(db);
    installed.set(db, r);
  }
  return r;
}

/**
 * Why the views named are not in this database (a view the library skipped because its tables
 * are missing), or null when they all are.
 */
export async function missingViews(db: Db, views: string[]): Promise<string | null> {
  const r = await ensureViews(db);
  const miss = r.skipped.filter((s) => views.includes(s.name));
  if (!miss.length) return null;
  // The tables at the root: a skipped view's inputs may be views skipped in turn.
  const bySkipped = new Map(r.skipped.map((x) => [x.name, x.missing]));
  const roots = (n: string, seen = new Set<string>()): string[] =>
    seen.has(n)
      ? []
      : (seen.add(n), bySkipped.has(n) ? bySkipped.get(n)!.flatMap((m) => roots(m, seen)) : [n]);
  const tables = [...new Set(miss.flatMap((m) => m.missing.flatMap((t) => roots(t))))];
  return `${miss.map((m) => m.name).join(', ')} not in this database: it has no ${tables.join(', ')}${tables.some((t) => /^(exclusive_|pte_|rss_|mm$|tasks$|pgtable|pagemap|folio|invariant)/.test(t)) ? ' (replay it first: mmreplay replay DB)' : ''}`;
}

export async function renderChart(
  db: Db,
  name: string,
  params: ChartParams = {},
): Promise<RenderedChart> {
  const def = chartByName(name);
  const missing = await missingViews(db, def.views);
  if (missing) throw new Error(`chart ${name}: ${missing}`);
  const rows = await def.data(db, params);
  if (!rows.length)
    throw new Error(
      `chart ${name}: no rows (it reads ${def.views.join(', ')}; does the database hold a replayed device-exclusive trace?)`,
    );
  const spec = def.spec(rows, params);
  return { name, spec, svg: await renderSvg(spec), rows: rows.length };
}

export function pngOf(svg: string, zoom = 2): Buffer {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: zoom }, background: 'white' })
    .render()
    .asPng();
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
