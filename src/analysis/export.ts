import fs from 'node:fs';
import path from 'node:path';
import { Db, quoteIdent, quoteString } from '../store/db.js';

/**
 * Writes every public table and view of the database as DIR/NAME.parquet (`events` as its view,
 * not the private `_events` and dictionaries); returns how many.
 */
export async function exportParquet(dbFile: string, dir: string): Promise<number> {
  fs.mkdirSync(dir, { recursive: true });
  const db = await Db.open(dbFile);
  try {
    const tables = (await db.tables()).filter((t) => !t.startsWith('_'));
    for (const t of tables) {
      await db.run(
        `COPY ${quoteIdent(t)} TO ${quoteString(path.join(dir, `${t}.parquet`))} (FORMAT parquet)`,
      );
    }
    return tables.length;
  } finally {
    db.close();
  }
}
