import type { CommandModule } from 'yargs';
import { CHARTS } from '../src/analysis/charts/registry.js';

interface Args {
  name: string;
  db: string;
  output: string[];
  request?: number;
  design?: string;
}

export const chartCommand: CommandModule<object, Args> = {
  command: 'chart <name> <db>',
  describe: `Render a chart over the view library offline to SVG, PNG or Vega-Lite JSON. Charts: ${CHARTS.map((c) => `${c.name} (${c.describe})`).join('; ')}`,
  builder: (y) =>
    y
      .positional('name', {
        type: 'string',
        choices: CHARTS.map((c) => c.name),
        demandOption: true,
      })
      .positional('db', {
        type: 'string',
        demandOption: true,
        describe: 'a replayed database, or a Parquet tree (mmreplay export --parquet)',
      })
      .option('output', {
        alias: 'o',
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'FILE.svg, FILE.png or FILE.json (Vega-Lite with its data); repeat for several',
      })
      .option('request', { type: 'number', describe: 'range-timeline: the request_id to show' })
      .option('design', {
        type: 'string',
        describe: 'range-timeline: the design to show',
      }) as never,
  handler: async (a) => {
    const { openForAnalysis } = await import('../src/analysis/parquet.js');
    const { renderChart, writeRendered } = await import('../src/analysis/charts/render.js');
    const db = await openForAnalysis(a.db);
    try {
      const c = await renderChart(db, a.name, { request: a.request?.toString(), design: a.design });
      for (const f of a.output) {
        writeRendered(c, f);
        process.stdout.write(`${f}\n`);
      }
    } finally {
      db.close();
    }
  },
};
