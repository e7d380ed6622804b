// Rows built column-wise into plain typed arrays, many data chunks' worth at a time, and appended
// to DuckDB apart from where they were built: a batch's buffers are transferable, so the thread
// that fills them (the replay's model) need not be the one that appends them (replay-io.ts).
// `ColumnBatch` fills (the ChunkAppender API: set, setI32, setI64, endRow); `BatchAppender` copies
// a full batch into data chunks and appends them. Strings are coded per batch and column: each
// distinct string crosses once, and is assigned to a chunk's vector once.
import duckdb from '@duckdb/node-bindings';
import {
  DuckDBDataChunk,
  DuckDBEnumType,
  DuckDBTypeId,
  DuckDBVector,
  type DuckDBAppender,
} from '@duckdb/node-api';
import type { Value } from './chunk-appender.js';
import { Kind, RowBuilder, TWO_32, type NumericColumn } from './row-builder.js';

const CHUNK_ROWS = DuckDBVector.standardSize();
/** Rows per batch: sixteen data chunks. */
export const BATCH_ROWS = 16 * CHUNK_ROWS;
/** duckdb_string_t: 16 bytes, the string inline or a pointer into its vector's string heap. */
const STRING_T = 16;
/** A table's columns as a ColumnBatch fills them, in column order. */
export interface TableLayout {
  kinds: Kind[];
  /** An ENUM column's values, by code (null for the other columns). */
  enums: (readonly string[] | null)[];
}

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

const WIDTH = [8, 4, 2, 8, 1, 4, 1];

/** A full batch as it crosses between threads: `buffers` are transferable. */
export interface BatchData {
  rows: number;
  /** Per column: its values (row i at byte i * width). */
  values: ArrayBuffer[];
  /** Per column: 1 where the row is NULL (null when no row of the batch is). */
  nulls: (Uint8Array | null)[];
  /** Per STR column: its distinct strings, by code (empty for the others). */
  strings: string[][];
}

/** The buffers of a batch, to hand to postMessage's transfer list. */
export function transferables(b: BatchData): ArrayBuffer[] {
  const out: ArrayBuffer[] = [...b.values];
  for (const n of b.nulls) if (n) out.push(n.buffer as ArrayBuffer);
  return out;
}

/**
 * One column being filled. Every column has every field (unused ones empty), so `set` sees one
 * object shape whatever the type.
 */
interface ColumnBuffer extends NumericColumn {
  buffer: ArrayBuffer;
  /** BOOL as 0/1, ENUM codes (STR codes are in i32). */
  u8: Uint8Array;
  /** ENUM: its values, by code. */
  values: readonly string[];
  nulls: Uint8Array | null;
  /** STR: string to code in this batch, and the codes' strings. */
  codes: Map<string, number>;
  strings: string[];
  /** STR: the last string set and its code (runs of one string skip the lookup). */
  last: string | null;
  lastCode: number;
}

const NO_I32 = new Int32Array(0);
const NO_I64 = new BigInt64Array(0);
const NO_I16 = new Int16Array(0);
const NO_F64 = new Float64Array(0);
const NO_U8 = new Uint8Array(0);

function columnBuffer(
  kind: Kind,
  values: readonly string[] | null,
  buffer: ArrayBuffer | undefined,
  rows: number,
): ColumnBuffer {
  const b = buffer ?? new ArrayBuffer(rows * WIDTH[kind]);
  return {
    kind,
    buffer: b,
    i32: kind === Kind.I64 || kind === Kind.I32 || kind === Kind.STR ? new Int32Array(b) : NO_I32,
    i64: kind === Kind.I64 ? new BigInt64Array(b) : NO_I64,
    i16: kind === Kind.I16 ? new Int16Array(b) : NO_I16,
    f64: kind === Kind.F64 ? new Float64Array(b) : NO_F64,
    u8: kind === Kind.BOOL || kind === Kind.ENUM ? new Uint8Array(b) : NO_U8,
    values: values ?? [],
    nulls: null,
    codes: new Map(),
    strings: [],
    last: null,
    lastCode: -1,
  };
}

/**
 * Fills a batch of rows of one table, row by row, and hands it to `emit` when full (or on flush):
 * the same calls as ChunkAppender's, without any N-API call per row or per batch. The batch's
 * buffers go with it; `recycle` gives spent ones back for the next batch.
 */
export class ColumnBatch extends RowBuilder<ColumnBuffer> {
  protected cols: ColumnBuffer[];
  private spare: ArrayBuffer[][] = [];

  /** `rows`: rows per batch (fewer for a table that fills slowly, to hold less memory). */
  constructor(
    readonly layout: TableLayout,
    private readonly emit: (b: BatchData) => void,
    private readonly rows = BATCH_ROWS,
  ) {
    super(rows);
    this.cols = this.buffers();
  }

  private buffers(spare?: ArrayBuffer[]): ColumnBuffer[] {
    const { kinds, enums } = this.layout;
    return kinds.map((k, i) => columnBuffer(k, enums[i], spare?.[i], this.rows));
  }

  /** Buffers of an emitted batch, back from whoever appended it. */
  recycle(values: ArrayBuffer[]): void {
    if (this.spare.length < 4) this.spare.push(values);
  }

  protected setNull(c: ColumnBuffer, r: number): void {
    (c.nulls ??= new Uint8Array(this.rows))[r] = 1;
  }

  protected setOther(c: ColumnBuffer, r: number, v: Value): void {
    switch (c.kind) {
      case Kind.BOOL:
        c.u8[r] = v ? 1 : 0;
        break;
      case Kind.STR: {
        const s = v as string;
        if (s !== c.last) {
          // A column's strings are mostly a handful of constants: compared in turn (by pointer
          // when they are the same string) before any hash lookup.
          const strs = c.strings;
          let code = -1;
          if (strs.length <= 8) {
            for (let i = 0; i < strs.length; i++)
              if (strs[i] === s) {
                code = i;
                break;
              }
          } else code = c.codes.get(s) ?? -1;
          if (code < 0) {
            code = strs.push(s) - 1;
            c.codes.set(s, code);
          }
          c.last = s;
          c.lastCode = code;
        }
        c.i32[r] = c.lastCode;
        break;
      }
      case Kind.ENUM: {
        // A handful of values, compared in turn (by pointer when they are the same string).
        const i = c.values.indexOf(v as string);
        if (i < 0)
          throw new Error(`ColumnBatch: '${String(v)}' is not one of ENUM(${c.values.join(', ')})`);
        c.u8[r] = i;
        break;
      }
    }
  }

  // Typed set()s for the busiest writers (the replay's per-event rows): one value type each, so
  // each stays monomorphic; anything else (another type, a column of another kind) goes to set().

  /** set() for a bigint or null. */
  setBig(col: number, v: bigint | null): void {
    const c = this.cols[col];
    if (typeof v === 'bigint' && c.kind === Kind.I64) c.i64[this.row] = v;
    else this.set(col, v);
  }

  /** set() for a number or null, into an integer column. */
  setInt(col: number, v: number | null): void {
    const c = this.cols[col];
    if (typeof v === 'number') {
      if (c.kind === Kind.I32) {
        c.i32[this.row] = v;
        return;
      }
      if (c.kind === Kind.I64) {
        const r = 2 * this.row;
        c.i32[r] = v;
        c.i32[r + 1] = Math.floor(v / TWO_32);
        return;
      }
    }
    this.set(col, v);
  }

  /** set() for a boolean or null. */
  setBool(col: number, v: boolean | null): void {
    const c = this.cols[col];
    if (typeof v === 'boolean' && c.kind === Kind.BOOL) c.u8[this.row] = v ? 1 : 0;
    else this.set(col, v);
  }

  /** set() for a string or null. */
  setStr(col: number, v: string | null): void {
    const c = this.cols[col];
    if (typeof v === 'string' && c.kind === Kind.STR && v === c.last) c.i32[this.row] = c.lastCode;
    else if (typeof v === 'string' && c.kind === Kind.ENUM) this.setOther(c, this.row, v);
    else this.set(col, v);
  }

  /** Hands the rows filled so far to `emit` (none: nothing). */
  flush(): void {
    this.emitRows(true);
  }

  /** The last flush: hands the rows on without making buffers for more. */
  finish(): void {
    this.emitRows(false);
  }

  private emitRows(more: boolean): void {
    const n = this.row;
    if (n === 0) return;
    const cols = this.cols;
    const batch: BatchData = {
      rows: n,
      values: cols.map((c) => c.buffer),
      nulls: cols.map((c) => c.nulls),
      strings: cols.map((c) => c.strings),
    };
    const spare = more ? this.spare.pop() : undefined;
    this.cols = more ? this.buffers(spare) : [];
    this.row = 0;
    this.emit(batch);
  }
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
