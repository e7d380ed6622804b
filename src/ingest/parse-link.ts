// What the parsing half of ingest (text-parse.ts, binary-parse.ts) shares: the messages it sends
// the storing half (parse-store.ts) and the acks it gets back, the database's dictionaries
// continued on its thread, and the column batches of each table it fills, of which at most a few
// are in flight at once (bounds memory). It needs no database client: it runs on a worker thread.
import { BATCH_ROWS, ColumnBatch, transferables, type BatchData } from '../store/column-batch.js';
import { Kind } from '../store/row-builder.js';
import type { Column } from '../parse/fields.js';
import { TraceInputError } from '../parse/errors.js';
import type { RareTable } from '../store/loader.js';
import type { FileSummary } from './summary.js';

export type DictName = 'comms' | 'flags' | 'eventNames';
export type RareValue = string | number | bigint | null;

/** What every parser is given (structured-cloneable: it crosses to the worker). */
export interface ParseJob {
  file: string;
  fileId: number;
  /** events.id of the file's first event. */
  firstId: number;
  /** The database's dictionaries as they stand: the parser codes new strings after them. */
  dicts: Record<DictName, { entries: [string, number][]; next: number }>;
  /** Column names and types of the tables that exist (information_schema names), in column order. */
  names: Record<string, string[]>;
  types: Record<string, string[]>;
  progress: boolean;
}

/** Parser to store. */
export type FromParser =
  /** Create a typed table; comes before its first rows. */
  | { t: 'table'; table: string; event: string; columns: Column[]; line: number | null }
  | { t: 'rows'; table: string; rows: BatchData }
  | { t: 'rare'; table: RareTable; values: RareValue[] }
  /** A string new to a dictionary, and its code. */
  | { t: 'dict'; dict: DictName; code: number; value: string }
  | { t: 'progress'; bytesRead: number; bytes: number; events: number }
  | { t: 'warning'; message: string }
  | { t: 'done'; summary: FileSummary }
  | { t: 'error'; error: SentError };

/** An error as it crosses threads: enough to throw the same class with the same message. */
export interface SentError {
  name: string;
  message: string;
  stack?: string;
  path?: string;
  line?: number | null;
  problem?: string;
  byteOffset?: number;
}

/** Store to parser: a batch appended, its buffers back to fill again. */
export interface Ack {
  table: string;
  values: ArrayBuffer[];
}

export type Post = (m: FromParser, transfer?: ArrayBuffer[]) => void;

/** Row batches sent and not yet appended, at most: then the parser waits (bounds memory). */
const MAX_IN_FLIGHT = 6;
/** Rows per batch of a typed table or other_events (four data chunks). */
const TYPED_BATCH_ROWS = 8192;

function kindOfType(t: string): Kind {
  switch (t) {
    case 'BIGINT':
    case 'UBIGINT':
      return Kind.I64;
    case 'INTEGER':
    case 'UINTEGER':
      return Kind.I32;
    case 'SMALLINT':
      return Kind.I16;
    case 'DOUBLE':
      return Kind.F64;
    case 'BOOLEAN':
      return Kind.BOOL;
    case 'VARCHAR':
    case 'JSON':
      return Kind.STR;
    default:
      throw new Error(`ingest: no column batch for DuckDB type ${t}`);
  }
}

/** A dictionary of the database's, continued on this thread; new strings are sent as coded. */
export class Codes {
  private readonly codes: Map<string, number>;
  private next: number;

  constructor(
    private readonly name: DictName,
    from: { entries: [string, number][]; next: number },
    private readonly post: (m: FromParser) => void,
  ) {
    this.codes = new Map(from.entries);
    this.next = from.next;
  }

  code(s: string): number {
    const c = this.codes.get(s);
    if (c !== undefined) return c;
    const n = this.next++;
    this.codes.set(s, n);
    this.post({ t: 'dict', dict: this.name, code: n, value: s });
    return n;
  }
}

/** A parser's batches and messages; `parse` reads the file and returns its summary. */
export abstract class BatchParser<J extends ParseJob> {
  private readonly batches = new Map<string, ColumnBatch>();
  private inFlight = 0;
  private wake: (() => void) | null = null;
  /** Rows a batch needs at most (a small file's rows fill a fraction of one). */
  protected maxRows = Infinity;

  constructor(
    protected readonly job: J,
    protected readonly post: Post,
  ) {}

  protected abstract parse(): Promise<FileSummary>;

  /** A batch the store appended: its buffers are filled again. */
  ack(a: Ack): void {
    this.inFlight--;
    this.batches.get(a.table)?.recycle(a.values);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async run(): Promise<void> {
    try {
      const summary = await this.parse();
      for (const b of this.batches.values()) b.finish();
      this.post({ t: 'done', summary });
    } catch (e) {
      this.post({ t: 'error', error: sendError(e) });
    }
  }

  /** Waits while too many batches are in flight. */
  protected async drain(): Promise<void> {
    while (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => (this.wake = r));
  }

  protected hasTable(table: string): boolean {
    return this.batches.has(table);
  }

  /** The batch of a table that exists (job.types), or of one made with `columns` (types). */
  protected table(table: string, columns?: string[]): ColumnBatch {
    let b = this.batches.get(table);
    if (!b) {
      const types = this.job.types[table] ?? columns;
      if (!types) throw new Error(`ingest: no table ${table}`);
      b = new ColumnBatch(
        { kinds: types.map(kindOfType), enums: [] },
        (rows) => {
          this.inFlight++;
          this.post({ t: 'rows', table, rows }, transferables(rows));
        },
        // One row per event goes to _events, to each typed table only its event's share.
        Math.min(table === '_events' ? BATCH_ROWS : TYPED_BATCH_ROWS, this.maxRows),
      );
      this.batches.set(table, b);
    }
    return b;
  }

  protected rare(table: RareTable, values: RareValue[]): void {
    this.post({ t: 'rare', table, values });
  }

  protected codes(): Record<DictName, Codes> {
    const post = (m: FromParser) => this.post(m);
    const d = this.job.dicts;
    return {
      comms: new Codes('comms', d.comms, post),
      flags: new Codes('flags', d.flags, post),
      eventNames: new Codes('eventNames', d.eventNames, post),
    };
  }
}

function sendError(e: unknown): SentError {
  const err = e instanceof Error ? e : new Error(String(e));
  const out: SentError = { name: err.name, message: err.message, stack: err.stack };
  if (err instanceof TraceInputError) {
    out.path = err.path;
    out.line = err.line;
    out.problem = err.problem;
    out.byteOffset = err.byteOffset;
  }
  return out;
}
