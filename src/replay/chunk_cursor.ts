// A DuckDB result read chunk by chunk, with the next chunk fetched while this one is used.
import duckdb from '@duckdb/node-bindings';
import type { DuckDBDataChunk, DuckDBResult, DuckDBValue, DuckDBVector } from '@duckdb/node-api';

/** One query's chunks, the next one already being fetched while this one is used. */
export class Cursor {
  chunk: DuckDBDataChunk | null = null;
  row = 0;
  rows = 0;
  private ahead: Promise<DuckDBDataChunk | null> | null;

  constructor(private readonly res: DuckDBResult) {
    this.ahead = this.fetch();
  }

  private fetch(): Promise<DuckDBDataChunk | null> {
    const p = this.res.fetchChunk();
    // Awaited in next(); a query abandoned on an error elsewhere must not fail the process.
    p.catch(() => {});
    return p;
  }

  /** Moves to the next chunk; false at the end. */
  async next(): Promise<boolean> {
    const c = this.ahead ? await this.ahead : null;
    this.row = 0;
    if (!c || c.rowCount === 0) {
      this.ahead = null;
      this.chunk = null;
      this.rows = 0;
      return false;
    }
    this.ahead = this.fetch();
    this.chunk = c;
    this.rows = c.rowCount;
    return true;
  }

  /** Column i's validity bits (null when no row of the chunk is NULL). */
  validity(i: number): Uint8Array | null {
    const v = duckdb.data_chunk_get_vector(this.chunk!.chunk, i);
    return duckdb.vector_get_validity(v, Math.ceil(this.rows / 64) * 8) || null;
  }

  col<T extends DuckDBValue>(i: number): DuckDBVector<T> {
    return this.chunk!.getColumnVector(i) as DuckDBVector<T>;
  }

  /** Column i's values in place, as a typed array of n elements of `bytes` bytes each. */
  raw<T>(i: number, bytes: number, make: (b: ArrayBuffer, at: number, n: number) => T): T {
    const v = duckdb.data_chunk_get_vector(this.chunk!.chunk, i);
    let u8 = duckdb.vector_get_data(v, this.rows * bytes);
    if (u8.byteOffset % 8 !== 0) u8 = u8.slice();
    return make(u8.buffer as ArrayBuffer, u8.byteOffset, this.rows);
  }
}
