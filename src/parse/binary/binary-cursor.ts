// The records of a binary trace as ingest reads them, one at a time: perf-data.ts's cursor, and
// the .dat's that src/ingest/binary.ts builds over the CPUs' ring-buffer pages.
/** One event or lost-events record, in time order, from either binary format. */
export interface BinaryCursor {
  next(): boolean;
  /** 'lost': `lost` events were dropped on `cpu` (-1: an unknown number), before this point. */
  kind: 'event' | 'lost';
  ts: number | bigint;
  cpu: number;
  tid: number;
  tgid: number | null;
  /** null: take it from the pid→comm table. */
  comm: string | null;
  buf: Buffer;
  rec: number;
  len: number;
  lost: number;
}

/** A cursor on no record yet, moved on by `next` (which sets the cursor's fields). */
export function binaryCursor(next: () => boolean): BinaryCursor {
  return {
    kind: 'event',
    ts: 0,
    cpu: 0,
    tid: 0,
    tgid: null,
    comm: null,
    buf: Buffer.alloc(0),
    rec: 0,
    len: 0,
    lost: 0,
    next,
  };
}
