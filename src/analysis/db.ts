// The DuckDB session: one database file, one connection, the schema and its view library.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

const SQL_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'sql');

export function sqlFile(name: string): string {
  return fs.readFileSync(path.join(SQL_DIR, name), 'utf8');
}

export class Db {
  private constructor(
    readonly path: string,
    readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string, opts: { create?: boolean; readOnly?: boolean } = {}): Promise<Db> {
    if (!opts.create && file !== ':memory:' && !fs.existsSync(file)) {
      throw new Error(`${file}: no such database (create one with \`mmreplay ingest TRACE --db ${file}\`)`);
    }
    const instance = await DuckDBInstance.create(file, opts.readOnly ? { access_mode: 'READ_ONLY' } : {});
    const conn = await instance.connect();
    return new Db(file, instance, conn);
  }

  async run(sql: string): Promise<void> {
    await this.conn.run(sql);
  }

  async rows<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const r = await this.conn.runAndReadAll(sql);
    return r.getRowObjectsJS() as T[];
  }

  async tables(): Promise<string[]> {
    const r = await this.rows<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'main'`);
    return r.map((x) => x.name);
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
