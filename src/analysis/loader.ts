// Appends ingested rows into DuckDB through its appender, one appender per table.
import type { DuckDBAppender } from '@duckdb/node-api';
import type { FieldValue, SqlType } from '../parse/format.js';
import type { TableSpec } from '../parse/fields.js';
import { quoteIdent, sqlFile, type Db } from './db.js';

type Append = (a: DuckDBAppender, v: FieldValue) => void;

const APPEND: Record<SqlType, Append> = {
  BIGINT: (a, v) => a.appendBigInt(v as bigint),
  UBIGINT: (a, v) => a.appendUBigInt(v as bigint),
  INTEGER: (a, v) => a.appendInteger(v as number),
  UINTEGER: (a, v) => a.appendUInteger(v as number),
  SMALLINT: (a, v) => a.appendSmallInt(v as number),
  BOOLEAN: (a, v) => a.appendBoolean(v as boolean),
  VARCHAR: (a, v) => a.appendVarchar(v as string),
};

interface TypedTable {
  appender: DuckDBAppender;
  appenders: Append[];
}

export class Loader {
  private events!: DuckDBAppender;
  private other!: DuckDBAppender;
  private typed = new Map<string, TypedTable>();
  private rareAppenders = new Map<RareTable, DuckDBAppender>();

  constructor(readonly db: Db) {}

  async init(): Promise<void> {
    await this.db.run(sqlFile('schema.sql'));
    this.events = await this.db.conn.createAppender('events');
    this.other = await this.db.conn.createAppender('other_events');
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
    this.typed.set(spec.table, { appender, appenders: spec.columns.map((c) => APPEND[c.type]) });
  }

  event(id: bigint, fileId: number, lineNo: number, tsNs: bigint, cpu: number, tid: number, tgid: number | null, comm: string, flags: string | null, event: string): void {
    const a = this.events;
    a.appendBigInt(id);
    a.appendInteger(fileId);
    a.appendBigInt(BigInt(lineNo));
    a.appendBigInt(tsNs);
    a.appendInteger(cpu);
    a.appendInteger(tid);
    if (tgid === null) a.appendNull();
    else a.appendInteger(tgid);
    a.appendVarchar(comm);
    if (flags === null) a.appendNull();
    else a.appendVarchar(flags);
    a.appendVarchar(event);
    a.endRow();
  }

  typedRow(spec: TableSpec, id: bigint, values: FieldValue[]): void {
    const t = this.typed.get(spec.table)!;
    const a = t.appender;
    a.appendBigInt(id);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null) a.appendNull();
      else t.appenders[i](a, v);
    }
    a.endRow();
  }

  otherEvent(id: bigint, event: string, args: string, fields: string): void {
    const a = this.other;
    a.appendBigInt(id);
    a.appendVarchar(event);
    a.appendVarchar(args);
    a.appendVarchar(fields);
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

  finish(): void {
    this.events.closeSync();
    this.other.closeSync();
    for (const a of this.rareAppenders.values()) a.closeSync();
    for (const t of this.typed.values()) t.appender.closeSync();
  }
}

type RareTable = 'lost_events' | 'unparsed' | 'field_errors';

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
