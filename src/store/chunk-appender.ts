// Appends rows to a DuckDB table a data chunk at a time: a row appender costs one N-API call per
// value, a chunk one per column (numbers) or per distinct string.
import duckdb from '@duckdb/node-bindings';
import { DuckDBDataChunk, DuckDBTypeId, DuckDBVector, type DuckDBAppender } from '@duckdb/node-api';
import { Kind, RowBuilder, type NumericColumn } from './row-builder.js';

export type Value = string | number | bigint | boolean | null;

const CHUNK_ROWS = DuckDBVector.standardSize();
/** duckdb_string_t: 16 bytes, the string inline or a pointer into its vector's string heap. */
const STRING_T = 16;
/**
 * A chunk's pending strings are slices that keep their 64 KiB piece of input text alive: a chunk
 * is appended, full or not, once it has waited this many line batches (about 1 MiB of text).
 */
const MAX_AGE_BATCHES = 16;

const NONE = new Int32Array(0);

/**
 * One column of a chunk being filled: values by row, and the rows that are NULL. Every column has
 * every field (unused ones empty), so `set` sees one object shape whatever the type.
 */
interface ColumnBuffer extends NumericColumn {
  strs: (string | null)[];
  /** The bytes copied into the vector, per row. */
  bytes: Uint8Array;
  width: number;
  nulls: number[];
}

function columnBuffer(t: DuckDBTypeId): ColumnBuffer {
  const c: ColumnBuffer = {
    kind: Kind.I32,
    i32: NONE,
    i64: new BigInt64Array(0),
    i16: new Int16Array(0),
    f64: new Float64Array(0),
    strs: [],
    bytes: new Uint8Array(0),
    width: 0,
    nulls: [],
  };
  switch (t) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
      c.kind = Kind.I64;
      c.i64 = new BigInt64Array(CHUNK_ROWS);
      c.i32 = new Int32Array(c.i64.buffer);
      c.bytes = new Uint8Array(c.i64.buffer);
      c.width = 8;
      return c;
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UINTEGER:
      c.kind = Kind.I32;
      c.i32 = new Int32Array(CHUNK_ROWS);
      c.bytes = new Uint8Array(c.i32.buffer);
      c.width = 4;
      return c;
    case DuckDBTypeId.SMALLINT:
      c.kind = Kind.I16;
      c.i16 = new Int16Array(CHUNK_ROWS);
      c.bytes = new Uint8Array(c.i16.buffer);
      c.width = 2;
      return c;
    case DuckDBTypeId.DOUBLE:
      c.kind = Kind.F64;
      c.f64 = new Float64Array(CHUNK_ROWS);
      c.bytes = new Uint8Array(c.f64.buffer);
      c.width = 8;
      return c;
    case DuckDBTypeId.BOOLEAN:
      c.kind = Kind.BOOL;
      c.bytes = new Uint8Array(CHUNK_ROWS);
      c.width = 1;
      return c;
    case DuckDBTypeId.VARCHAR:
      c.kind = Kind.STR;
      c.strs = new Array<string | null>(CHUNK_ROWS).fill(null);
      return c;
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
export class ChunkAppender extends RowBuilder<ColumnBuffer> {
  private readonly chunk: DuckDBDataChunk;
  protected readonly cols: ColumnBuffer[];
  private age = 0;

  /** Columns are the appender's table's, in order. */
  constructor(private readonly appender: DuckDBAppender) {
    super(CHUNK_ROWS);
    const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
    this.chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
    this.cols = types.map((t) => columnBuffer(t.typeId));
  }

  protected setNull(c: ColumnBuffer, r: number): void {
    c.nulls.push(r);
  }

  protected setOther(c: ColumnBuffer, r: number, v: Value): void {
    if (c.kind === Kind.BOOL) c.bytes[r] = v ? 1 : 0;
    else c.strs[r] = v as string;
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
      if (c.kind === Kind.STR) writeStrings(vector, c.strs, c.nulls, n);
      else duckdb.copy_data_to_vector(vector, 0, c.bytes.buffer as ArrayBuffer, 0, n * c.width);
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
function writeStrings(
  vector: duckdb.Vector,
  strings: (string | null)[],
  nullRows: number[],
  n: number,
): void {
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
      if (f !== r && !nulls?.has(r))
        data.copyWithin(r * STRING_T, f * STRING_T, (f + 1) * STRING_T);
    }
    duckdb.copy_data_to_vector(
      vector,
      0,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      n * STRING_T,
    );
  }
  // Let the strings (slices of the input text) go.
  strings.fill(null, 0, n);
}
