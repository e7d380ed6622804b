// Rows built column-wise into plain typed arrays, many data chunks' worth at a time, and appended
// to DuckDB apart from where they were built: a batch's buffers are transferable, so the thread
// that fills them (the replay's model) need not be the one that appends them (replay-io.ts).
// `ColumnBatch` fills (set, setI32, setI64, endRow); `BatchAppender` (batch-appender.ts)
// copies a full batch into data chunks and appends them. Strings are coded per batch and column: each
// distinct string crosses once, and is assigned to a chunk's vector once.
// This module loads no DuckDB code: the parsing worker of ingest fills batches without it
// (batch-appender.ts appends them).
import { Kind, RowBuilder, TWO_32, type NumericColumn, type Value } from './row-builder.js';

/** Rows per batch: sixteen of DuckDB's standard data chunks (2048 rows). */
export const BATCH_ROWS = 16 * 2048;
/** A table's columns as a ColumnBatch fills them, in column order. */
export interface TableLayout {
  kinds: Kind[];
  /** An ENUM column's values, by code (null for the other columns). */
  enums: (readonly string[] | null)[];
}

/** Bytes per value, by Kind. */
export const WIDTH = [8, 4, 2, 8, 1, 4, 1];

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
  /** STR and ENUM: the last string set and its code (runs of one string skip the lookup). */
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
 * without any N-API call per row or per batch. The batch's
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
        c.last = v as string;
        c.lastCode = i;
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
    else if (typeof v === 'string' && c.kind === Kind.ENUM) {
      if (v === c.last) c.u8[this.row] = c.lastCode;
      else this.setOther(c, this.row, v);
    } else this.set(col, v);
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
