// ColumnBatch and BatchAppender: rows filled by column and appended through data chunks come out
// of DuckDB as they went in, an ENUM column included (its strings set as one-byte codes).
import { describe, expect, it } from 'vitest';
import { BatchAppender } from '../src/store/batch-appender.js';
import { ColumnBatch, type BatchData } from '../src/store/column-batch.js';
import { Db } from '../src/store/db.js';

async function table(
  db: Db,
): Promise<{ app: BatchAppender; batches: BatchData[]; b: ColumnBatch }> {
  await db.run(
    `CREATE TABLE t (n INTEGER, big BIGINT, kind ENUM('none', 'present', 'swap'), note VARCHAR, ok BOOLEAN)`,
  );
  const app = new BatchAppender(await db.conn.createAppender('t'));
  const batches: BatchData[] = [];
  return { app, batches, b: new ColumnBatch(app.layout, (x) => batches.push(x), 4) };
}

describe('ColumnBatch', () => {
  it('appends every kind of column, an ENUM by its values, NULLs where set', async () => {
    const db = await Db.open(':memory:');
    const { app, batches, b } = await table(db);
    const kinds = ['present', 'swap', null, 'none', 'present', 'swap'] as const;
    kinds.forEach((k, i) => {
      b.setInt(0, i);
      b.setBig(1, 2n ** 40n + BigInt(i));
      b.setStr(2, k);
      b.setStr(3, i % 2 ? `odd ${i}` : null);
      b.setBool(4, i % 3 === 0);
      b.endRow();
    });
    b.flush();
    expect(batches.map((x) => x.rows)).toEqual([4, 2]);
    for (const x of batches) app.append(x);
    app.close();
    const rows = await db.rows<{
      n: number;
      big: bigint;
      kind: string | null;
      note: string | null;
      ok: boolean;
    }>('SELECT n, big, kind::VARCHAR AS kind, note, ok FROM t ORDER BY n');
    expect(rows.map((r) => r.kind)).toEqual(kinds);
    expect(rows.map((r) => r.big)).toEqual(kinds.map((_, i) => 2n ** 40n + BigInt(i)));
    expect(rows.map((r) => r.note)).toEqual([null, 'odd 1', null, 'odd 3', null, 'odd 5']);
    expect(rows.map((r) => r.ok)).toEqual([true, false, false, true, false, false]);
    db.close();
  });

  it('refuses a string that is not one of the ENUM values, naming them', async () => {
    const db = await Db.open(':memory:');
    const { app, b } = await table(db);
    expect(() => b.setStr(2, 'device_exclusive')).toThrow(
      "'device_exclusive' is not one of ENUM(none, present, swap)",
    );
    app.close();
    db.close();
  });
});
