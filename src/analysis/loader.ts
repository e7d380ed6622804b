// Appends ingested rows into DuckDB, one appender per table: the bulk tables through data chunks,
// the rare ones row by row.
import duckdb from '@duckdb/node-bindings';
import {
  BIGINT,
  BOOLEAN,
  DuckDBDataChunk,
  DuckDBVector,
  INTEGER,
  SMALLINT,
  UBIGINT,
  UINTEGER,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBType,
} from '@duckdb/node-api';
import type { FieldValue, SqlType } from '../parse/format.js';
import type { TableSpec } from '../parse/fields.js';
import { quoteIdent, sqlFile, type Db } from './db.js';

const DUCK_TYPE: Record<SqlType, DuckDBType> = { BIGINT, UBIGINT, INTEGER, UINTEGER, SMALLINT, BOOLEAN, VARCHAR };
const CHUNK_ROWS = DuckDBVector.standardSize();
/** duckdb_string_t: 16 bytes, the string inline or a pointer into its vector's string heap. */
const STRING_T = 16;
/**
 * A chunk's pending strings are slices that keep their 64 KiB piece of input text alive: a chunk
 * is appended, full or not, once it has waited this many line batches (about 1 MiB of text).
 */
const MAX_AGE_BATCHES = 16;

/** One column of a chunk being filled: values by row (`put`), and the rows that are NULL. */
interface ColumnBuffer {
  /** A typed array for numeric columns, strings for VARCHAR. */
  data: ArrayLike<unknown> & { buffer?: ArrayBufferLike; byteOffset?: number; BYTES_PER_ELEMENT?: number };
  put: (row: number, v: FieldValue) => void;
  nulls: number[];
}

// One store function per array type keeps each store monomorphic. A typed array wraps a value
// out of the column's range as the appender's appendX did.
function columnBuffer(t: DuckDBType): ColumnBuffer {
  const col = <A extends ColumnBuffer['data']>(data: A, put: (a: A, row: number, v: FieldValue) => void): ColumnBuffer => ({
    data,
    put: (row, v) => put(data, row, v),
    nulls: [],
  });
  if (t === BIGINT) return col(new BigInt64Array(CHUNK_ROWS), (a, r, v) => (a[r] = v as bigint));
  if (t === UBIGINT) return col(new BigUint64Array(CHUNK_ROWS), (a, r, v) => (a[r] = v as bigint));
  if (t === INTEGER) return col(new Int32Array(CHUNK_ROWS), (a, r, v) => (a[r] = v as number));
  if (t === UINTEGER) return col(new Uint32Array(CHUNK_ROWS), (a, r, v) => (a[r] = v as number));
  if (t === SMALLINT) return col(new Int16Array(CHUNK_ROWS), (a, r, v) => (a[r] = v as number));
  if (t === BOOLEAN) return col(new Uint8Array(CHUNK_ROWS), (a, r, v) => (a[r] = v ? 1 : 0));
  return col(new Array<string | null>(CHUNK_ROWS).fill(null), (a, r, v) => (a[r] = v as string));
}

/**
 * Fills a data chunk row by row and appends it when full: the row appender cost one N-API call per
 * value and per row. Numeric columns are JS typed arrays copied into the chunk with one call each;
 * a VARCHAR column costs one call per distinct string in the chunk (trace strings repeat: comm,
 * flags, event names), the other rows copying the first one's duckdb_string_t. The chunk is reset
 * and reused.
 */
class ChunkAppender {
  private readonly chunk: DuckDBDataChunk;
  private readonly cols: ColumnBuffer[];
  private row = 0;
  private age = 0;

  constructor(
    private readonly appender: DuckDBAppender,
    types: DuckDBType[],
  ) {
    this.chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
    this.cols = types.map(columnBuffer);
  }

  /** Sets column `col` of the current row (null is NULL). */
  set(col: number, v: FieldValue): void {
    if (v === null) this.cols[col].nulls.push(this.row);
    else this.cols[col].put(this.row, v);
  }

  endRow(): void {
    if (++this.row === CHUNK_ROWS) this.flush();
  }

  /** Called once per line batch. */
  tick(): void {
    if (this.row > 0 && ++this.age >= MAX_AGE_BATCHES) this.flush();
  }

  flush(): void {
    const n = this.row;
    if (n === 0) return;
    const chunk = this.chunk.chunk;
    for (let i = 0; i < this.cols.length; i++) {
      const c = this.cols[i];
      const vector = duckdb.data_chunk_get_vector(chunk, i);
      if (Array.isArray(c.data)) writeStrings(vector, c.data as (string | null)[], c.nulls, n);
      else {
        const a = c.data as Uint8Array<ArrayBuffer>;
        duckdb.copy_data_to_vector(vector, 0, a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
      }
      if (c.nulls.length) {
        const mask = new Uint8Array(Math.ceil(n / 64) * 8).fill(0xff);
        for (const r of c.nulls) mask[r >> 3] &= ~(1 << (r & 7));
        duckdb.vector_ensure_validity_writable(vector);
        duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer, 0, mask.byteLength);
        c.nulls.length = 0;
      }
    }
    this.chunk.rowCount = n;
    this.appender.appendDataChunk(this.chunk);
    this.chunk.reset();
    this.row = 0;
    this.age = 0;
  }

  close(): void {
    this.flush();
    this.appender.closeSync();
  }
}

/** Assigns each distinct string once, then copies its duckdb_string_t to the rows repeating it. */
function writeStrings(vector: duckdb.Vector, strings: (string | null)[], nullRows: number[], n: number): void {
  const nulls = nullRows.length ? new Set(nullRows) : null;
  const first = new Map<string, number>();
  const from = new Int32Array(n);
  let repeats = false;
  let last: string | null = null;
  let lastFrom = 0;
  for (let r = 0; r < n; r++) {
    if (nulls?.has(r)) continue;
    const s = strings[r]!;
    // Runs of one string (a task's comm) skip the hash lookup.
    const f = s === last ? lastFrom : first.get(s);
    last = s;
    if (f === undefined) {
      lastFrom = r;
      first.set(s, r);
      from[r] = r;
      duckdb.vector_assign_string_element(vector, r, s);
    } else {
      lastFrom = f;
      from[r] = f;
      repeats = true;
    }
  }
  if (repeats) {
    const data = duckdb.vector_get_data(vector, n * STRING_T);
    for (let r = 0; r < n; r++) {
      const f = from[r];
      if (f !== r && !nulls?.has(r)) data.copyWithin(r * STRING_T, f * STRING_T, (f + 1) * STRING_T);
    }
    duckdb.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset, n * STRING_T);
  }
  // Let the strings (slices of the input text) go.
  strings.fill(null, 0, n);
}

const EVENT_TYPES = [BIGINT, INTEGER, BIGINT, BIGINT, INTEGER, INTEGER, INTEGER, VARCHAR, VARCHAR, VARCHAR];
const OTHER_TYPES = [BIGINT, VARCHAR, VARCHAR, VARCHAR];

export class Loader {
  private events!: ChunkAppender;
  private other!: ChunkAppender;
  private typed = new Map<string, ChunkAppender>();
  private rareAppenders = new Map<RareTable, DuckDBAppender>();

  constructor(readonly db: Db) {}

  async init(): Promise<void> {
    await this.db.run(sqlFile('schema.sql'));
    this.events = new ChunkAppender(await this.db.conn.createAppender('events'), EVENT_TYPES);
    this.other = new ChunkAppender(await this.db.conn.createAppender('other_events'), OTHER_TYPES);
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
    this.typed.set(spec.table, new ChunkAppender(appender, [BIGINT, ...spec.columns.map((c) => DUCK_TYPE[c.type])]));
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
