// Appends ColumnBatch's batches (column-batch.ts) to a DuckDB table, a data chunk at a time: one
// N-API call per numeric column and per distinct string in the chunk.
import duckdb from '@duckdb/node-bindings';
import {
  DuckDBDataChunk,
  DuckDBEnumType,
  DuckDBTypeId,
  DuckDBVector,
  type DuckDBAppender,
} from '@duckdb/node-api';
import { WIDTH, type BatchData, type TableLayout } from './column-batch.js';
import { Kind } from './row-builder.js';

const CHUNK_ROWS = DuckDBVector.standardSize();
/** duckdb_string_t: 16 bytes, the string inline or a pointer into its vector's string heap. */
const STRING_T = 16;

/** The layout of the table an appender appends to. */
export function layoutOf(appender: DuckDBAppender): TableLayout {
  const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
  return {
    kinds: kindsOf(types.map((t) => t.typeId)),
    enums: types.map((t) => {
      if (!(t instanceof DuckDBEnumType)) return null;
      // A longer ENUM's codes are two bytes wide.
      if (t.values.length > 255) throw new Error(`ColumnBatch: ENUM of ${t.values.length} values`);
      return t.values;
    }),
  };
}

/** Column kinds of a table's DuckDB types, in column order. */
function kindsOf(types: DuckDBTypeId[]): Kind[] {
  return types.map((t) => {
    switch (t) {
      case DuckDBTypeId.BIGINT:
      case DuckDBTypeId.UBIGINT:
        return Kind.I64;
      case DuckDBTypeId.INTEGER:
      case DuckDBTypeId.UINTEGER:
        return Kind.I32;
      case DuckDBTypeId.SMALLINT:
        return Kind.I16;
      case DuckDBTypeId.DOUBLE:
        return Kind.F64;
      case DuckDBTypeId.BOOLEAN:
        return Kind.BOOL;
      case DuckDBTypeId.VARCHAR:
        return Kind.STR;
      case DuckDBTypeId.ENUM:
        return Kind.ENUM;
      default:
        throw new Error(`ColumnBatch: no column buffer for DuckDB type ${DuckDBTypeId[t]}`);
    }
  });
}

/**
 * Appends batches to one table: each batch is copied into the table's data chunk CHUNK_ROWS rows
 * at a time (one N-API call per numeric column, one per distinct string in the chunk).
 */
export class BatchAppender {
  private readonly chunk: DuckDBDataChunk;
  readonly layout: TableLayout;
  private readonly kinds: Kind[];
  /** Rows appended since the appender last handed its rows to the table. */
  private held = 0;

  /**
   * `flushRows`: hand the appender's rows to the table once it holds this many. DuckDB's appender
   * otherwise keeps up to 204,800 rows in a buffer of its own, outside the memory limit; a flush
   * outside a transaction is a commit, whose rows go to the WAL (ingest opens one transaction).
   */
  constructor(
    private readonly appender: DuckDBAppender,
    private readonly flushRows = Infinity,
  ) {
    const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
    this.chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
    this.layout = layoutOf(appender);
    this.kinds = this.layout.kinds;
  }

  append(b: BatchData): void {
    for (let at = 0; at < b.rows; at += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, b.rows - at);
      const chunk = this.chunk.chunk;
      for (let i = 0; i < this.kinds.length; i++) {
        const kind = this.kinds[i];
        const vector = duckdb.data_chunk_get_vector(chunk, i);
        const nulls = b.nulls[i];
        if (kind === Kind.STR) writeStrings(vector, b.values[i], b.strings[i], nulls, at, n);
        else {
          const w = WIDTH[kind];
          duckdb.copy_data_to_vector(vector, 0, b.values[i], at * w, n * w);
        }
        if (nulls) {
          let any = false;
          for (let r = 0; r < n; r++) if (nulls[at + r]) any = true;
          if (any) {
            const mask = new Uint8Array(Math.ceil(n / 64) * 8).fill(0xff);
            for (let r = 0; r < n; r++) if (nulls[at + r]) mask[r >> 3] &= ~(1 << (r & 7));
            duckdb.vector_ensure_validity_writable(vector);
            duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer, 0, mask.byteLength);
          }
        }
      }
      this.chunk.rowCount = n;
      this.appender.appendDataChunk(this.chunk);
      this.chunk.reset();
    }
    this.held += b.rows;
    if (this.held >= this.flushRows) {
      this.appender.flushSync();
      this.held = 0;
    }
  }

  close(): void {
    this.appender.closeSync();
  }
}

/** Rows [at, at + n) of a STR column: each code's string assigned once, then its duckdb_string_t copied. */
function writeStrings(
  vector: duckdb.Vector,
  values: ArrayBuffer,
  strings: string[],
  nulls: Uint8Array | null,
  at: number,
  n: number,
): void {
  const codes = new Int32Array(values, at * 4, n);
  const first = new Int32Array(strings.length).fill(-1);
  let repeats = false;
  for (let r = 0; r < n; r++) {
    if (nulls?.[at + r]) continue;
    const code = codes[r];
    if (first[code] < 0) {
      first[code] = r;
      duckdb.vector_assign_string_element(vector, r, strings[code]);
    } else repeats = true;
  }
  if (!repeats) return;
  const data = duckdb.vector_get_data(vector, n * STRING_T);
  for (let r = 0; r < n; r++) {
    if (nulls?.[at + r]) continue;
    const f = first[codes[r]];
    if (f !== r) data.copyWithin(r * STRING_T, f * STRING_T, (f + 1) * STRING_T);
  }
  duckdb.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset, n * STRING_T);
}
