// The replay's row writers (src/replay/output.ts) name every column, in the order COLUMNS declares;
// this holds that order to the tables the SQL creates (sql/replay.sql, sql/exclusive.sql, read back
// from DuckDB's information_schema), and each in-place writer to setting every column once.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db, sqlFile } from '../src/store/db.js';
import { COLUMNS, type Table } from '../src/replay/columns.js';
import { replay } from '../src/replay/replay.js';
import { HOST, ROOT, ingestTemp } from './helpers.js';

describe('replay output columns', () => {
  it('every table the writer appends to has the columns COLUMNS names, in that order', async () => {
    const db = await Db.open(':memory:');
    try {
      await db.run(sqlFile('replay.sql'));
      await db.run(sqlFile('exclusive.sql'));
      const rows = await db.rows<{ t: string; c: string }>(
        `SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'main' ORDER BY table_name, ordinal_position`,
      );
      const created = new Map<string, string[]>();
      for (const r of rows) created.set(r.t, [...(created.get(r.t) ?? []), r.c]);
      for (const t of Object.keys(COLUMNS) as Table[])
        expect([t, created.get(t)]).toEqual([t, [...COLUMNS[t]]]);
      // Every table the SQL creates is written here, but for replay_runs (one INSERT in replay.ts).
      expect([...created.keys()].filter((t) => !(t in COLUMNS)).sort()).toEqual(['replay_runs']);
    } finally {
      db.close();
    }
  });

  it('each in-place writer sets every column of its table once', () => {
    const src = fs.readFileSync(path.join(ROOT, 'src/replay/output.ts'), 'utf8');
    const consts = [...src.matchAll(/^const (\w+) = positions\('(\w+)'\);$/gm)];
    expect(consts.map((m) => m[2]).sort()).toEqual([
      'folio_intervals',
      'pgtable_check',
      'pte_intervals',
      'rss_check',
    ]);
    for (const [, name, table] of consts) {
      const set = [...src.matchAll(new RegExp(`a\\.set\\w*\\(${name}\\.(\\w+),`, 'g'))].map(
        (m) => m[1],
      );
      expect([table, set.sort()]).toEqual([table, [...COLUMNS[table as Table]].sort()]);
    }
  });

  it('a replay puts each value in its column (kinds, confidences and designs where they belong)', async () => {
    const { db: ing, dbFile } = await ingestTemp([path.join(HOST, 'recorded/fork_cow/trace.txt')]);
    ing.close();
    await replay(dbFile, { kernel: '6.18' });
    const db = await Db.open(dbFile);
    try {
      const [r] = await db.rows<Record<string, bigint>>(
        `SELECT (SELECT count(*) FROM pte_intervals) ptes,
                (SELECT count(*) FROM pte_intervals WHERE kind NOT IN ('none', 'present', 'swap', 'migration', 'device_private', 'device_exclusive', 'hwpoison', 'marker')
                   OR confidence NOT IN ('observed', 'inferred', 'unknown') OR dur < 0 OR va % 4096 <> 0) bad_ptes,
                (SELECT count(*) FROM folio_intervals WHERE pfn_confidence NOT IN ('observed', 'inferred', 'unknown') OR refcount < 0) bad_folios,
                (SELECT count(*) FROM rss_check WHERE member NOT LIKE 'MM_%') bad_rss,
                (SELECT count(*) FROM vma_intervals WHERE start_va >= end_va OR prot NOT SIMILAR TO '[r-][w-][x-]') bad_vmas,
                (SELECT count(*) FROM tasks WHERE tid <= 0 OR first_ts > last_ts) bad_tasks,
                (SELECT count(*) FROM pagemap_check WHERE kernel_state NOT IN ('present', 'swap', 'none')) bad_pagemap`,
      );
      expect(r.ptes).toBeGreaterThan(100n);
      expect({ ...r, ptes: 0n }).toEqual({
        ptes: 0n,
        bad_ptes: 0n,
        bad_folios: 0n,
        bad_rss: 0n,
        bad_vmas: 0n,
        bad_tasks: 0n,
        bad_pagemap: 0n,
      });
    } finally {
      db.close();
    }
  });
});
