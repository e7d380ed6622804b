// The view library's documentation lint: every public view and column documented where it is
// defined, private helpers prefixed `_`, and every invariant rule the replay raises registered.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db, sqlFile } from '../src/store/db.js';
import { runNotebook } from '../src/analysis/notebook/run.js';
import { loadModules, parseModule, publicViews } from '../src/analysis/views.js';
import { ROOT } from './helpers.js';

describe('view library docs', () => {
  const mods = loadModules();

  it('every module, public view and public column has a doc', () => {
    const missing: string[] = [];
    for (const m of mods) if (!m.doc) missing.push(`module ${m.name}`);
    for (const v of publicViews(mods)) {
      if (!v.doc) missing.push(`${v.module}.sql:${v.line} view ${v.name}`);
      if (v.kind === 'view' && !v.columns.length)
        missing.push(`${v.module}.sql:${v.line} view ${v.name}: no column list`);
      for (const c of v.columns)
        if (!c.doc) missing.push(`${v.module}.sql:${v.line} ${v.name}.${c.name}`);
    }
    expect(missing).toEqual([]);
  });

  it('the parser catches an undocumented column', () => {
    const m = parseModule(
      't',
      '-- Mod.\n\n-- A view.\nCREATE OR REPLACE VIEW v (\n  a, -- doc of a\n  b\n) AS SELECT 1, 2;\n',
    );
    expect(m.views[0].columns).toEqual([
      { name: 'a', doc: 'doc of a' },
      { name: 'b', doc: '' },
    ]);
  });

  it('view names are unique and public ones are lowercase snake_case', () => {
    const names = mods.flatMap((m) => m.views.map((v) => v.name));
    expect(new Set(names).size).toBe(names.length);
    for (const v of publicViews(mods)) expect(v.name).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it('every invariant rule the replay raises (src/replay/*.ts) is in invariant_rules', () => {
    const dir = path.join(ROOT, 'src/replay');
    const raised = new Set<string>();
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      for (const m of fs
        .readFileSync(path.join(dir, f), 'utf8')
        .matchAll(/\bviolation\(\s*'([a-z0-9_]+)'/g))
        raised.add(m[1]);
    }
    expect(raised.size).toBeGreaterThan(5);
    const registry = mods
      .find((m) => m.name === 'rules')!
      .views.find((v) => v.name === 'invariant_rules')!.sql;
    const registered = new Set([...registry.matchAll(/^\s*\('([a-z0-9_]+)'/gm)].map((m) => m[1]));
    expect([...raised].filter((r) => !registered.has(r))).toEqual([]);
  });
});

describe('notebooks on a database that lacks tables', () => {
  it('an ingested, not replayed, database: the review report says what is missing instead of failing', async () => {
    const db = await Db.open(':memory:');
    try {
      await db.run(sqlFile('schema.sql'));
      const r = await runNotebook(db, path.join(ROOT, 'notebooks/review.md'));
      expect(r.charts).toBe(0);
      expect(r.html).toMatch(
        /Not shown: exclusive_failure_by_size not in this database: it has no exclusive_requests \(replay it first/,
      );
      expect(r.html).toMatch(/<h3 id="input-files">/);
    } finally {
      db.close();
    }
  });
});
