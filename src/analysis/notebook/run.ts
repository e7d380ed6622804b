// Executes a notebook against a database into one self-contained HTML page: prose, each query's
// table (its SQL folded beside it), and each chart inline as SVG. No script, no network.
import fs from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts.js';
import { renderChart, ensureViews, missingViews } from '../charts/render.js';
import { chartByName, rowsOf } from '../charts/registry.js';
import type { Db } from '../../store/db.js';
import { escapeHtml, markdownToHtml } from './markdown.js';
import { parseNotebook, substitute, type Block } from './parse.js';

export interface ReportResult {
  html: string;
  title: string;
  charts: number;
  tables: number;
}

type Row = Record<string, unknown>;

/** Columns that name things (ids, frames, addresses, times) print their digits plain. */
const PLAIN = /(^|_)(id|tid|pid|tgid|pfn|va|address|idx|ts|event|mm|folio|request|call)$/;

function cell(v: unknown, col: string): string {
  if (v === null || v === undefined) return '<td class="null">NULL</td>';
  if (typeof v === 'number') {
    const s = Number.isInteger(v)
      ? PLAIN.test(col)
        ? String(v)
        : v.toLocaleString('en-US')
      : Math.abs(v) < 1e-3 && v !== 0
        ? v.toExponential(2)
        : Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 4 });
    return `<td class="num">${s}</td>`;
  }
  if (typeof v === 'boolean') return `<td>${v}</td>`;
  return `<td>${escapeHtml(typeof v === 'object' ? JSON.stringify(v) : String(v))}</td>`;
}

function table(rows: Row[], limit: number): string {
  if (!rows.length) return '<p class="empty">(no rows)</p>';
  const cols = Object.keys(rows[0]);
  const shown = rows.slice(0, limit);
  const more =
    rows.length > limit
      ? `<p class="more">${rows.length - limit} more rows not shown (${rows.length} in all)</p>`
      : '';
  return `<table><thead><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${shown
    .map((r) => `<tr>${cols.map((c) => cell(r[c], c)).join('')}</tr>`)
    .join('')}</tbody></table>${more}`;
}

function figure(svg: string, caption: string, name: string): string {
  return `<figure class="chart" data-chart="${escapeHtml(name)}">${svg}<figcaption>${markdownToHtml(caption).replace(/^<p>|<\/p>$/g, '')}</figcaption></figure>`;
}

/** Renders the notebook at file; params override its front matter's. */
export async function runNotebook(
  db: Db,
  file: string,
  params: Record<string, string> = {},
): Promise<ReportResult> {
  const lib = await ensureViews(db);
  const skipped = lib.skipped.map((s) => s.name);
  /** A note in place of a block whose views this database cannot give. */
  const absent = async (views: string[]) => {
    const why = await missingViews(db, views);
    return why ? `<p class="missing">Not shown: ${escapeHtml(why)}.</p>` : null;
  };
  const named = new Map<string, Row[]>();
  let charts = 0;
  let tables = 0;
  const render = async (
    nbFile: string,
    depth: number,
    outerParams: Record<string, string>,
  ): Promise<{ title: string; body: string }> => {
    if (depth > 4) throw new Error(`${nbFile}: includes nest too deep`);
    const nb = parseNotebook(fs.readFileSync(nbFile, 'utf8'));
    const p = { ...nb.params, ...outerParams };
    const parts: string[] = [];
    const where = (b: Block) => `${path.basename(nbFile)}:${'line' in b ? b.line : '?'}`;
    for (const b of nb.blocks) {
      try {
        if (b.kind === 'markdown') parts.push(markdownToHtml(substitute(b.text, p, true), depth));
        else if (b.kind === 'code') parts.push(`<pre><code>${escapeHtml(b.text)}</code></pre>`);
        else if (b.kind === 'include') {
          const inc = await render(path.resolve(path.dirname(nbFile), b.arg), depth + 1, p);
          parts.push(`<section class="included">${inc.body}</section>`);
        } else if (b.kind === 'sql') {
          const sql = substitute(b.text, p);
          const note = await absent(skipped.filter((v) => new RegExp(`\\b${v}\\b`).test(sql)));
          if (note) {
            parts.push(note);
            continue;
          }
          const rows = await rowsOf(db, sql);
          if (b.opts.name) named.set(b.opts.name, rows);
          if (b.opts.show !== 'false') {
            tables++;
            parts.push(
              `<div class="query">${table(rows, Number(b.opts.limit ?? 25))}<details><summary>SQL</summary><pre><code>${escapeHtml(sql)}</code></pre></details></div>`,
            );
          }
        } else if (b.kind === 'chart') {
          const note = await absent(chartByName(b.arg).views);
          if (note) {
            parts.push(note);
            continue;
          }
          const c = await renderChart(db, b.arg, { ...p, ...b.opts });
          charts++;
          parts.push(
            figure(
              c.svg,
              `chart ${b.arg}: \`mmreplay chart ${b.arg} DB${Object.entries(b.opts)
                .map(([k, v]) => ` --${k} ${v}`)
                .join('')} -o FILE.svg\``,
              b.arg,
            ),
          );
        } else if (b.kind === 'vega-lite') {
          const spec = JSON.parse(b.text) as TopLevelSpec & { data?: unknown };
          const rows = b.opts.data ? named.get(b.opts.data) : undefined;
          if (b.opts.data && !rows)
            throw new Error(`no query named ${b.opts.data} before this block`);
          const full = {
            $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
            ...spec,
            ...(rows ? { data: { values: rows } } : {}),
          } as TopLevelSpec;
          charts++;
          parts.push(
            figure(
              await renderSvg(full),
              `Vega-Lite over ${b.opts.data ?? 'inline data'}`,
              b.opts.data ?? 'vega-lite',
            ),
          );
        }
      } catch (e) {
        throw new Error(`${where(b)}: ${(e as Error).message}`, { cause: e });
      }
    }
    return { title: nb.title, body: parts.join('\n') };
  };
  const { title, body } = await render(file, 0, params);
  return { html: page(title, body, db.path), title, charts, tables };
}

function page(title: string, body: string, dbPath: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; max-width: 1080px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.1em; }
code { font: 13px ui-monospace, Menlo, Consolas, monospace; background: #f4f4f4; padding: 0 .25em; border-radius: 3px; }
pre code { display: block; padding: .6em; overflow-x: auto; background: #f7f7f7; }
table { border-collapse: collapse; font-size: 13px; margin: .6em 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .2em .7em; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.null { color: #aaa; }
.more, .empty, figcaption, .meta { color: #777; font-size: 12px; }
.missing { color: #8a6d3b; background: #fcf8e3; padding: .3em .6em; font-size: 13px; }
details summary { cursor: pointer; color: #555; font-size: 12px; }
figure.chart { margin: 1.2em 0; overflow-x: auto; }
figure.chart svg { max-width: 100%; height: auto; }
blockquote { border-left: 3px solid #ccc; margin: .8em 0; padding: .1em .9em; color: #555; }
</style></head>
<body>
${body}
<p class="meta">Generated by <code>mmreplay report</code> from <code>${escapeHtml(dbPath)}</code>.</p>
</body></html>
`;
}
