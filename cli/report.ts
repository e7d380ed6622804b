import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';

const NOTEBOOKS = path.resolve(import.meta.dirname, '../notebooks');

interface ReportArgs {
  notebook: string;
  db: string;
  output: string;
  set?: string[];
}

/** KEY=VALUE pairs. */
function params(set: string[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (set ?? []).map((kv) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`--set ${kv}: write KEY=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/** A notebook path, or the name of one under notebooks/ (with or without .md). */
export function notebookPath(nb: string): string {
  if (fs.existsSync(nb)) return nb;
  for (const p of [path.join(NOTEBOOKS, nb), path.join(NOTEBOOKS, `${nb}.md`)])
    if (fs.existsSync(p)) return p;
  throw new Error(`${nb}: no such notebook (bundled: ${fs.readdirSync(NOTEBOOKS).join(', ')})`);
}

export async function writeReport(
  nb: string,
  dbFile: string,
  out: string,
  p: Record<string, string>,
): Promise<string> {
  const { openForAnalysis } = await import('../src/analysis/parquet.js');
  const { runNotebook } = await import('../src/analysis/notebook/run.js');
  const db = await openForAnalysis(dbFile);
  try {
    const r = await runNotebook(db, notebookPath(nb), p);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, r.html);
    return `${out}: ${r.title} (${r.charts} charts, ${r.tables} tables, ${(r.html.length / 1024).toFixed(0)} KiB)`;
  } finally {
    db.close();
  }
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <notebook> <db>',
  describe:
    'Execute a notebook (Markdown with sql, chart and vega-lite blocks) into a self-contained HTML page',
  builder: (y) =>
    y
      .positional('notebook', {
        type: 'string',
        demandOption: true,
        describe:
          'a .md file, or a bundled notebook: review, failure-by-size, failed-request, trace-quality, design-comparison',
      })
      .positional('db', {
        type: 'string',
        demandOption: true,
        describe: 'a replayed database, or a Parquet tree (mmreplay export --parquet)',
      })
      .option('output', { alias: 'o', type: 'string', default: 'report.html' })
      .option('set', {
        type: 'string',
        array: true,
        describe: 'notebook parameter KEY=VALUE (e.g. designs=5.14,6.15)',
      }) as never,
  handler: async (a) => {
    process.stdout.write(`${await writeReport(a.notebook, a.db, a.output, params(a.set))}\n`);
  },
};

interface CompareArgs {
  db: string;
  designs: string;
  output: string;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <db>',
  describe:
    'Write the device-exclusive design comparison report (notebooks/design-comparison.md) for a replayed database',
  builder: (y) =>
    y
      .positional('db', { type: 'string', demandOption: true })
      .option('designs', {
        type: 'string',
        default: '5.14,v8,6.15',
        describe:
          'designs to compare, comma-separated (each must have been replayed: mmreplay replay DB --design ...)',
      })
      .option('output', { alias: 'o', type: 'string', default: 'compare.html' }) as never,
  handler: async (a) => {
    const { openForAnalysis } = await import('../src/analysis/parquet.js');
    const designs = a.designs
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean);
    const db = await openForAnalysis(a.db);
    try {
      const have = (
        await db.rows<{ design: string }>(`SELECT DISTINCT design FROM exclusive_requests`)
      ).map((r) => r.design);
      const missing = designs.filter((d) => !have.includes(d));
      if (missing.length)
        throw new Error(
          `${a.db} has no replay under design ${missing.join(', ')} (it has ${have.join(', ') || 'none'}): run \`mmreplay replay ${a.db} --design ${designs.join(' ')}\``,
        );
    } finally {
      db.close();
    }
    process.stdout.write(
      `${await writeReport('design-comparison', a.db, a.output, { designs: designs.join(',') })}\n`,
    );
  },
};
