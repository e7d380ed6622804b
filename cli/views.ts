import type { CommandModule } from 'yargs';
import { formatTable } from './output.js';

interface Args {
  db?: string;
  install?: boolean;
  columns?: boolean;
  json?: boolean;
}

export const viewsCommand: CommandModule<object, Args> = {
  command: 'views [db]',
  describe:
    'List the SQL view library (src/analysis/sql/views/) with each view and column documented; with DB, which of them its tables support',
  builder: (y) =>
    y
      .positional('db', {
        type: 'string',
        describe: 'database: mark the views it can answer (and --install them)',
      })
      .option('columns', {
        type: 'boolean',
        default: true,
        describe: "list each view's columns (--no-columns for names only)",
      })
      .option('install', {
        type: 'boolean',
        default: false,
        describe:
          'create the views in DB (with COMMENT ON docs), for `mmreplay query` and other SQL clients',
      })
      .option('json', { type: 'boolean', default: false }) as never,
  handler: async (a) => {
    const { Db } = await import('../src/store/db.js');
    const { isParquetTree, openParquetTree } = await import('../src/analysis/parquet.js');
    const { installViews, loadModules } = await import('../src/analysis/views.js');
    const mods = loadModules();
    let available: Set<string> | null = null;
    if (a.db) {
      if (a.install && isParquetTree(a.db))
        throw new Error(
          `${a.db}: a Parquet tree is read as it is; --install needs a database file`,
        );
      const db = isParquetTree(a.db)
        ? await openParquetTree(a.db)
        : await Db.open(a.db, a.install ? {} : { readOnly: true });
      try {
        const r = await installViews(db, { persist: a.install });
        available = new Set(r.installed);
      } finally {
        db.close();
      }
    }
    const pub = mods.map((m) => ({
      ...m,
      views: m.views.filter((v) => !v.name.startsWith('_') && v.kind === 'view'),
    }));
    if (a.json) {
      process.stdout.write(
        JSON.stringify(
          pub.map((m) => ({
            module: m.name,
            doc: m.doc,
            views: m.views.map((v) => ({
              name: v.name,
              doc: v.doc,
              requires: v.requires,
              columns: v.columns,
              ...(available ? { available: available.has(v.name) } : {}),
            })),
          })),
          null,
          2,
        ) + '\n',
      );
      return;
    }
    const out = process.stdout;
    for (const m of pub) {
      out.write(`\n## ${m.name}: ${m.doc}\n`);
      for (const v of m.views) {
        const mark = available
          ? available.has(v.name)
            ? ''
            : '  (not in this database: needs ' + v.requires.join(', ') + ')'
          : '';
        out.write(`\n${v.name}${mark}\n  ${v.doc}\n`);
        if (a.columns)
          out.write(
            formatTable(v.columns.map((c) => ({ column: c.name, doc: c.doc }))).replace(
              /^/gm,
              '  ',
            ),
          );
      }
    }
    if (a.install && a.db) out.write(`\ninstalled ${available?.size ?? 0} views into ${a.db}\n`);
  },
};
