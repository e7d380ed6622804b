// A table's rows filled a value at a time into one typed array per column (a 64-bit integer as two
// int32 halves when it comes as a number), handed on when `capacity` rows are full. The subclass
// (ColumnBatch, column-batch.ts) says how it keeps NULLs, booleans and strings.

/** A value a row takes. */
export type Value = string | number | bigint | boolean | null;

export const enum Kind {
  /** BIGINT, UBIGINT: 64-bit, from bigint or (without allocating one) from number. */
  I64,
  /** INTEGER, UINTEGER: the same 32 bits either way. */
  I32,
  I16,
  F64,
  BOOL,
  STR,
  /** ENUM (up to 255 values): a string set as its value's code, one byte. */
  ENUM,
}

export const TWO_32 = 2 ** 32;

/** A column's numeric views (those of another kind are empty). */
export interface NumericColumn {
  kind: Kind;
  /** I64 as two int32 halves (little-endian), I32. */
  i32: Int32Array;
  /** I64 from a bigint: the same memory as i32. */
  i64: BigInt64Array;
  i16: Int16Array;
  f64: Float64Array;
}

export abstract class RowBuilder<C extends NumericColumn> {
  protected abstract cols: C[];
  protected row = 0;

  constructor(private readonly capacity: number) {}

  /** Row r of column c is NULL. */
  protected abstract setNull(c: C, r: number): void;
  /** Row r of a BOOL or STR column. */
  protected abstract setOther(c: C, r: number, v: Value): void;
  /** Hands on the rows filled so far. */
  abstract flush(): void;

  /**
   * Sets column `col` of the current row (null is NULL). A typed array takes a value out of the
   * column's range modulo its width, as the appender's appendX did; integers come as number or
   * bigint (a number above 2^53 is taken as it stands).
   */
  set(col: number, v: Value): void {
    const c = this.cols[col];
    const r = this.row;
    if (v === null) {
      this.setNull(c, r);
      return;
    }
    switch (c.kind) {
      case Kind.I64:
        if (typeof v === 'number') {
          c.i32[2 * r] = v;
          c.i32[2 * r + 1] = Math.floor(v / TWO_32);
        } else c.i64[r] = typeof v === 'bigint' ? v : BigInt(v as never);
        break;
      case Kind.I32:
        c.i32[r] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : (v as number);
        break;
      case Kind.I16:
        c.i16[r] = typeof v === 'bigint' ? Number(BigInt.asIntN(16, v)) : (v as number);
        break;
      case Kind.F64:
        c.f64[r] = typeof v === 'bigint' ? Number(v) : (v as number);
        break;
      default:
        this.setOther(c, r, v);
    }
  }

  /** set() for a number that is not null, into an INTEGER/UINTEGER column. */
  setI32(col: number, v: number): void {
    this.cols[col].i32[this.row] = v;
  }

  /** set() for an integer number below 2^53 in magnitude, into a BIGINT/UBIGINT column. */
  setI64(col: number, v: number): void {
    const a = this.cols[col].i32;
    const r = 2 * this.row;
    a[r] = v;
    a[r + 1] = Math.floor(v / TWO_32);
  }

  /** set() for a BIGINT/UBIGINT column from its low and high 32 bits. */
  setI64Words(col: number, lo: number, hi: number): void {
    const a = this.cols[col].i32;
    const r = 2 * this.row;
    a[r] = lo;
    a[r + 1] = hi;
  }

  endRow(): void {
    if (++this.row === this.capacity) this.flush();
  }

  /** A whole row, in column order. */
  put(vals: Value[]): void {
    for (let i = 0; i < vals.length; i++) this.set(i, vals[i]);
    this.endRow();
  }
}
