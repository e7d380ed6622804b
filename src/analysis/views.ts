// The view library: SQL modules by topic under sql/views/, each view documented where it is
// defined, parsed here so `mmreplay views` can list them and a test can hold every column to a doc.
//
// Convention (after PerfettoSQL's documented signatures): the comment block right above
// `CREATE OR REPLACE VIEW name (` documents the view, and its column list names each column with a
// trailing `-- doc` (continued on following comment-only lines). `@requires a, b` in the view's
// comment block names the tables and views it reads; the installer skips a view whose inputs are
// missing (a database that was ingested but not replayed has no exclusive_* tables). Names that
// start with `_` are private helpers: not listed, no doc required. The first comment block of a
// file documents the module.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db.js';

export const VIEWS_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'sql', 'views');

/** Modules in install order: a view may read the views of the modules before it. */
export const MODULES = [
  'lossy',
  'rules',
  'events',
  'processes',
  'pte',
  'exclusive',
  'causes',
  'designs',
  'quality',
] as const;

export interface ViewColumn {
  name: string;
  doc: string;
}

export interface ViewDef {
  module: string;
  name: string;
  kind: 'view' | 'macro';
  doc: string;
  columns: ViewColumn[];
  requires: string[];
  /** The statement as written. */
  sql: string;
  /** For a view, its query (after `) AS`), without the final `;`. */
  body: string;
  line: number;
}

export interface ModuleDef {
  name: string;
  doc: string;
  views: ViewDef[];
}

const CREATE = /^CREATE OR REPLACE (VIEW|MACRO) ("?[A-Za-z_][\w]*"?)\s*\(/;

/** Parses one module's text. Statements end with a line ending in `;`. */
export function parseModule(name: string, text: string): ModuleDef {
  const lines = text.split('\n');
  let i = 0;
  const modDoc: string[] = [];
  while (i < lines.length && lines[i].startsWith('--'))
    modDoc.push(lines[i++].replace(/^--\s?/, ''));
  const views: ViewDef[] = [];
  let comment: string[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('--')) {
      comment.push(line.replace(/^--\s?/, ''));
      continue;
    }
    const m = CREATE.exec(line);
    if (!m) {
      if (!line.trim()) comment = [];
      continue;
    }
    const start = i;
    let bodyStart = -1;
    const columns: ViewColumn[] = [];
    const kind = m[1] === 'VIEW' ? 'view' : 'macro';
    if (kind === 'view') {
      // Column list: one column per line until the line `) AS`.
      for (i++; i < lines.length && !/^\)\s*AS\b/.test(lines[i]); i++) {
        const c = /^\s*("[^"]+"|\w+)\s*,?\s*(?:--\s?(.*))?$/.exec(lines[i]);
        const more = /^\s*--\s?(.*)$/.exec(lines[i]);
        if (more && columns.length) columns[columns.length - 1].doc += ` ${more[1].trim()}`;
        else if (c) columns.push({ name: c[1].replace(/"/g, ''), doc: (c[2] ?? '').trim() });
        else
          throw new Error(`${name}.sql:${i + 1}: cannot read the column list line \`${lines[i]}\``);
      }
      bodyStart = i;
    }
    while (i < lines.length && !/;\s*$/.test(lines[i])) i++;
    const docLines = comment.filter((c) => !c.startsWith('@'));
    const req = comment
      .filter((c) => c.startsWith('@requires'))
      .flatMap((c) =>
        c
          .replace('@requires', '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    views.push({
      module: name,
      name: m[2].replace(/"/g, ''),
      kind,
      doc: docLines.join(' ').replace(/\s+/g, ' ').trim(),
      columns,
      requires: req,
      sql: lines.slice(start, i + 1).join('\n'),
      body:
        bodyStart < 0
          ? ''
          : [lines[bodyStart].replace(/^\)\s*AS\b/, ''), ...lines.slice(bodyStart + 1, i + 1)]
              .join('\n')
              .replace(/;\s*$/, ''),
      line: start + 1,
    });
    comment = [];
  }
  return { name, doc: modDoc.join(' ').replace(/\s+/g, ' ').trim(), views };
}

export function loadModules(): ModuleDef[] {
  return MODULES.map((m) =>
    parseModule(m, fs.readFileSync(path.join(VIEWS_DIR, `${m}.sql`), 'utf8')),
  );
}

export function publicViews(mods = loadModules()): ViewDef[] {
  return mods.flatMap((m) => m.views).filter((v) => !v.name.startsWith('_'));
}

export interface InstallResult {
  installed: string[];
  skipped: { name: string; missing: string[] }[];
}

/**
 * Creates the library's views on the session. `persist` writes them into the database (with
 * COMMENT ON, so DuckDB's catalog carries the docs); otherwise they are TEMP views, which leave
 * the file untouched and work on a read-only database.
 */
export async function installViews(
  db: Db,
  opts: { persist?: boolean } = {},
): Promise<InstallResult> {
  const have = new Set(
    (
      await db.rows<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'main'`,
      )
    ).map((r) => r.name),
  );
  const res: InstallResult = { installed: [], skipped: [] };
  for (const mod of loadModules()) {
    for (const v of mod.views) {
      const missing = v.requires.filter((r) => !have.has(r));
      if (missing.length) {
        res.skipped.push({ name: v.name, missing });
        continue;
      }
      // A view is created over its query with the documented names as the query's column aliases
      // (DuckDB keeps a view's column-list names apart from its columns, and COMMENT ON COLUMN
      // reads the latter).
      const temp = opts.persist ? '' : 'TEMP ';
      const sql =
        v.kind === 'view'
          ? `CREATE OR REPLACE ${temp}VIEW ${v.name} AS SELECT * FROM (\n${v.body}\n) AS _v(${v.columns.map((c) => `"${c.name}"`).join(', ')})`
          : v.sql.replace(/^CREATE OR REPLACE MACRO/, `CREATE OR REPLACE ${temp}MACRO`);
      try {
        await db.run(sql);
      } catch (e) {
        throw new Error(`${mod.name}.sql:${v.line}: view ${v.name}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (opts.persist && v.kind === 'view' && !v.name.startsWith('_')) {
        const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
        await db.run(`COMMENT ON VIEW ${v.name} IS ${q(v.doc)}`);
        for (const c of v.columns)
          await db.run(`COMMENT ON COLUMN ${v.name}."${c.name}" IS ${q(c.doc)}`);
      }
      have.add(v.name);
      res.installed.push(v.name);
    }
  }
  return res;
}
