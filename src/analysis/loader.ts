// Appends ingested rows into DuckDB, one appender per table: the bulk tables through data chunks,
// the rare ones row by row.
import type { DuckDBAppender } from '@duckdb/node-api';
import type { FieldValue } from '../parse/format.js';
import type { TableSpec } from '../parse/fields.js';
import { ChunkAppender } from './chunk-appender.js';
import { quoteIdent, sqlFile, type Db } from './db.js';

export class Loader {
  private events!: ChunkAppender;
  private other!: ChunkAppender;
  private typed = new Map<string, ChunkAppender>();
  private rareAppenders = new Map<RareTable, DuckDBAppender>();

  constructor(readonly db: Db) {}

  async init(): Promise<void> {
    await this.db.run(sqlFile('schema.sql'));
    this.events = new ChunkAppender(await this.db.conn.createAppender('events'));
    this.other = new ChunkAppender(await this.db.conn.createAppender('other_events'));
    for (const t of ['lost_events', 'unparsed', 'field_errors'] as const) {
      this.rareAppenders.set(t, await this.db.conn.createAppender(t));
    }
  }

  /** Creates the typed table of an event (if new) and its appender. */
  async ensureTable(spec: TableSpec): Promise<void> {
    if (this.typed.has(spec.table)) return;
    const cols = spec.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
    await this.db.run(
      `CREATE TABLE IF NOT EXISTS ${quoteIdent(spec.table)} (id BIGINT${cols ? ', ' + cols : ''});` +
        `COMMENT ON TABLE ${quoteIdent(spec.table)} IS ${sqlString(`Fields of ${spec.event}, typed from its format file; id joins events.id`)}`,
    );
    const appender = await this.db.conn.createAppender(spec.table);
    this.typed.set(spec.table, new ChunkAppender(appender));
  }

  event(id: bigint, fileId: number, lineNo: number, tsNs: bigint, cpu: number, tid: number, tgid: number | null, comm: string, flags: string | null, event: string): void {
    const a = this.events;
    a.set(0, id);
    a.set(1, fileId);
    a.set(2, BigInt(lineNo));
    a.set(3, tsNs);
    a.set(4, cpu);
    a.set(5, tid);
    a.set(6, tgid);
    a.set(7, comm);
    a.set(8, flags);
    a.set(9, event);
    a.endRow();
  }

  typedRow(spec: TableSpec, id: bigint, values: FieldValue[]): void {
    const a = this.typed.get(spec.table)!;
    a.set(0, id);
    for (let i = 0; i < values.length; i++) a.set(i + 1, values[i]);
    a.endRow();
  }

  otherEvent(id: bigint, event: string, args: string, fields: string): void {
    const a = this.other;
    a.set(0, id);
    a.set(1, event);
    a.set(2, args);
    a.set(3, fields);
    a.endRow();
  }

  /** Lost markers, unparsed lines and field errors, in their tables' column order. */
  rare(table: RareTable, values: (string | number | bigint | null)[]): void {
    const a = this.rareAppenders.get(table)!;
    for (const v of values) {
      if (v === null) a.appendNull();
      else if (typeof v === 'string') a.appendVarchar(v);
      else if (typeof v === 'number') a.appendInteger(v);
      else a.appendBigInt(v);
    }
    a.endRow();
  }

  /** Called after each batch of input lines. */
  endBatch(): void {
    this.events.tick();
    this.other.tick();
    for (const t of this.typed.values()) t.tick();
  }

  finish(): void {
    this.events.close();
    this.other.close();
    for (const a of this.rareAppenders.values()) a.closeSync();
    for (const t of this.typed.values()) t.close();
  }
}

type RareTable = 'lost_events' | 'unparsed' | 'field_errors';

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
