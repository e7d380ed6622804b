// Appends rows to a DuckDB table a data chunk at a time: a row appender costs one N-API call per
// value, a chunk one per column (numbers) or per distinct string.
import duckdb from '@duckdb/node-bindings';
import { DuckDBDataChunk, DuckDBTypeId, DuckDBVector, type DuckDBAppender } from '@duckdb/node-api';

export type Value = string | number | bigint | boolean | null;

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
  put: (row: number, v: Value) => void;
  nulls: number[];
}

// One store function per array type keeps each store monomorphic. A typed array wraps a value
// out of the column's range as the appender's appendX did; integers come as number or bigint.
function columnBuffer(t: DuckDBTypeId): ColumnBuffer {
  const col = <A extends ColumnBuffer['data']>(data: A, put: (a: A, row: number, v: Value) => void): ColumnBuffer => ({
    data,
    put: (row, v) => put(data, row, v),
    nulls: [],
  });
  const big = (v: Value) => (typeof v === 'bigint' ? v : BigInt(v as number));
  const num = (v: Value) => (typeof v === 'bigint' ? Number(v) : (v as number));
  switch (t) {
    case DuckDBTypeId.BIGINT:
      return col(new BigInt64Array(CHUNK_ROWS), (a, r, v) => (a[r] = big(v)));
    case DuckDBTypeId.UBIGINT:
      return col(new BigUint64Array(CHUNK_ROWS), (a, r, v) => (a[r] = big(v)));
    case DuckDBTypeId.INTEGER:
      return col(new Int32Array(CHUNK_ROWS), (a, r, v) => (a[r] = num(v)));
    case DuckDBTypeId.UINTEGER:
      return col(new Uint32Array(CHUNK_ROWS), (a, r, v) => (a[r] = num(v)));
    case DuckDBTypeId.SMALLINT:
      return col(new Int16Array(CHUNK_ROWS), (a, r, v) => (a[r] = num(v)));
    case DuckDBTypeId.DOUBLE:
      return col(new Float64Array(CHUNK_ROWS), (a, r, v) => (a[r] = num(v)));
    case DuckDBTypeId.BOOLEAN:
      return col(new Uint8Array(CHUNK_ROWS), (a, r, v) => (a[r] = v ? 1 : 0));
    case DuckDBTypeId.VARCHAR:
      return col(new Array<string | null>(CHUNK_ROWS).fill(null), (a, r, v) => (a[r] = v as string));
    default:
      throw new Error(`ChunkAppender: no column buffer for DuckDB type ${DuckDBTypeId[t]}`);
  }
}

/**
 * Fills a data chunk row by row and appends it when full: the row appender cost one N-API call per
 * value and per row. Numeric columns are JS typed arrays copied into the chunk with one call each;
 * a VARCHAR column costs one call per distinct string in the chunk (trace strings repeat: comm,
 * flags, event names), the other rows copying the first one's duckdb_string_t. The chunk is reset
 * and reused.
 */
export class ChunkAppender {
  private readonly chunk: DuckDBDataChunk;
  private readonly cols: ColumnBuffer[];
  private row = 0;
  private age = 0;

  /** Columns are the appender's table's, in order. */
  constructor(private readonly appender: DuckDBAppender) {
    const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
    this.chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
    this.cols = types.map((t) => columnBuffer(t.typeId));
  }

  /** Sets column `col` of the current row (null is NULL). */
  set(col: number, v: Value): void {
    if (v === null) this.cols[col].nulls.push(this.row);
    else this.cols[col].put(this.row, v);
  }

  endRow(): void {
    if (++this.row === CHUNK_ROWS) this.flush();
  }

  /** A whole row, in column order. */
  put(vals: Value[]): void {
    for (let i = 0; i < vals.length; i++) this.set(i, vals[i]);
    this.endRow();
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

