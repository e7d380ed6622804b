// Appends ingested rows into DuckDB, one appender per table: the bulk tables through data chunks,
// the rare ones row by row. `events` is stored as `_events` with its strings coded through
// dictionaries (schema.sql) that live here as Maps, loaded from the database first so a second
// ingest extends them.
import type { DuckDBAppender } from '@duckdb/node-api';
import type { TableSpec } from '../parse/fields.js';
import { BatchAppender } from './batch-appender.js';
import type { BatchData } from './column-batch.js';
import { quoteIdent, sqlFile, type Db } from './db.js';

/**
 * A dictionary table (`_comms`, ...): string to code, the new strings written when ingest ends
 * (an appender flush is a commit, milliseconds each). Codes continue after the highest one stored
 * in the table or in `_events`, so that an ingest that died before writing its strings leaves
 * codes that read as NULL, never as another string.
 */
export class Dictionary {
  private readonly codes = new Map<string, number>();
  private next = 0;
  private appender!: DuckDBAppender;

  constructor(
    readonly table: string,
    private readonly codeCol: string,
    private readonly valueCol: string,
  ) {}

  async load(db: Db): Promise<void> {
    const rows = await db.rows<{ code: number; value: string }>(
      `SELECT ${this.codeCol} AS code, ${this.valueCol} AS value FROM ${this.table}`,
    );
    for (const r of rows) this.codes.set(r.value, r.code);
    const [{ top }] = await db.rows<{ top: number | null }>(
      `SELECT greatest((SELECT max(${this.codeCol}) FROM ${this.table}), (SELECT max(${this.codeCol}) FROM _events)) AS top`,
    );
    this.next = top === null ? 0 : top + 1;
    this.appender = await db.conn.createAppender(this.table);
  }

  /** Its strings and codes, and the next code: for a parser on another thread to go on with. */
  snapshot(): { entries: [string, number][]; next: number } {
    return { entries: [...this.codes], next: this.next };
  }

  /** A code another thread gave a new string (continuing from snapshot()). */
  add(code: number, s: string): void {
    this.codes.set(s, code);
    if (code >= this.next) this.next = code + 1;
    this.appender.appendInteger(code);
    this.appender.appendVarchar(s);
    this.appender.endRow();
  }

  code(s: string): number {
    const c = this.codes.get(s);
    if (c !== undefined) return c;
    const n = this.next++;
    this.codes.set(s, n);
    this.appender.appendInteger(n);
    this.appender.appendVarchar(s);
    this.appender.endRow();
    return n;
  }

  close(): void {
    this.appender.closeSync();
  }
}

/**
 * DuckDB's memory limit while ingesting. Its buffer pool keeps the blocks it wrote until it
 * reaches the limit (at 128MB, peak RSS rose by ~100 MB per GB of trace up to it); rows waiting in
 * the transaction for a full row group count against it and are spilled.
 */
export const INGEST_MEMORY_LIMIT = '32MB';

/** Rows appended between two looks at the process's RSS, which decides a purge (`purge`). */
const PURGE_ROWS = 1_000_000;
/**
 * RSS over which DuckDB's allocator is purged: a purge costs page faults on the memory handed
 * back (11 µs each on a PVM guest), so only where memory has grown near the 300 MB bound.
 */
const PURGE_RSS = 200 << 20;

export class Loader {
  readonly comms = new Dictionary('_comms', 'comm_id', 'comm');
  readonly flags = new Dictionary('_flags', 'flags_id', 'flags');
  readonly eventNames = new Dictionary('_event_names', 'event_id', 'event');
  /**
   * Each table's columns as the database has them (`name TYPE, ...`), read once at init and kept
   * as tables are made: a table missing here does not exist (asking information_schema after each
   * CREATE cost ~9 ms a table, ~30 tables, while the parser waited for its first batches).
   */
  private shapes = new Map<string, string>();
  private batchAppenders = new Map<string, BatchAppender>();
  private rareAppenders = new Map<RareTable, DuckDBAppender>();
  /** Rows appended since the last purge. */
  private unpurged = 0;

  constructor(readonly db: Db) {}

  async init(): Promise<void> {
    const [old] = await this.db.rows(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'events' AND table_type = 'BASE TABLE'`,
    );
    if (old) await this.db.run(`ALTER TABLE events RENAME TO _events_v0`);
    await this.db.run(sqlFile('schema.sql'));
    if (old) await this.migrate();
    for (const d of this.dicts()) await d.load(this.db);
    const { names, types } = await this.columns();
    for (const t in names)
      this.shapes.set(t, names[t].map((n, i) => `${n} ${types[t][i]}`).join(', '));
    for (const t of RARE_TABLES) {
      this.rareAppenders.set(t, await this.db.conn.createAppender(t));
    }
  }

  /** Creates the typed table of an event, if new; what differs where it exists otherwise: a table typed
   *  from another source (a .dat's format file, a kprobe's printed line) cannot take these rows by
   *  position, and the caller warns. */
  async createTable(spec: Pick<TableSpec, 'table' | 'event' | 'columns'>): Promise<string | null> {
    const shape = ['id BIGINT', ...spec.columns.map((c) => `${c.name} ${c.type}`)].join(', ');
    let have = this.shapes.get(spec.table);
    if (have === undefined) {
      const cols = spec.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
      await this.db.run(
        `CREATE TABLE ${quoteIdent(spec.table)} (id BIGINT${cols ? ', ' + cols : ''});` +
          `COMMENT ON TABLE ${quoteIdent(spec.table)} IS ${sqlString(`Fields of ${spec.event}, typed from its format file; id joins events.id`)}`,
      );
      have = shape;
      this.shapes.set(spec.table, have);
    }
    return have === shape ? null : `${spec.event} (${shape}; its table ${spec.table} has ${have})`;
  }

  /** An appender of column batches to `table` (any of the bulk tables), made once. */
  private async batchAppender(table: string): Promise<BatchAppender> {
    let a = this.batchAppenders.get(table);
    if (!a) {
      // Each batch goes to the transaction at once: rows held in DuckDB's appender are outside the
      // memory limit (flushing at 16,384 rows per table, peak RSS was ~20 MB higher).
      a = new BatchAppender(await this.db.conn.createAppender(table), 1);
      this.batchAppenders.set(table, a);
    }
    return a;
  }

  /** Appends a batch to `table`, purging DuckDB's allocator where RSS grew past PURGE_RSS. */
  async append(table: string, rows: BatchData): Promise<void> {
    (await this.batchAppender(table)).append(rows);
    this.unpurged += rows.rows;
    if (this.unpurged < PURGE_ROWS) return;
    this.unpurged = 0;
    if (process.memoryUsage.rss() > PURGE_RSS) await this.purge();
  }

  /**
   * Hands back to the system the pages DuckDB's allocator kept. Its jemalloc keeps freed pages for
   * reuse (beside the 32MB buffer pool it held up to ~80 MB more, and the commit, which writes the
   * partial row groups and blocks the transaction spilled, added 30-90 MB on top); setting the
   * memory limit returns them (BufferPool::SetLimit ends with Allocator::FlushAll). Purged every
   * PURGE_ROWS and before the commit, peak RSS of an 8/16/32 M-event .dat was 251-276/280/290 MB,
   * against 287-315/326-361/388 MB without (and 259-261/288-316/330 MB purged only before the
   * commit); CPU 0-15 % more (page faults on the returned pages).
   */
  async purge(): Promise<void> {
    await this.db.run(`SET memory_limit = '${INGEST_MEMORY_LIMIT}'`);
  }

  /** The names and DuckDB types of every table's columns, in order (information_schema's names). */
  async columns(): Promise<{ names: Record<string, string[]>; types: Record<string, string[]> }> {
    const tables = [...(await this.db.columns())];
    return {
      names: Object.fromEntries(tables.map(([t, c]) => [t, [...c.keys()]])),
      types: Object.fromEntries(tables.map(([t, c]) => [t, [...c.values()]])),
    };
  }

  /** A database made before `events` became a view: its table, recoded into `_events`. */
  private async migrate(): Promise<void> {
    await this.db.run(`
      INSERT INTO _comms SELECT row_number() OVER (ORDER BY min(id)) - 1, comm FROM _events_v0 WHERE comm IS NOT NULL GROUP BY comm;
      INSERT INTO _flags SELECT row_number() OVER (ORDER BY min(id)) - 1, flags FROM _events_v0 WHERE flags IS NOT NULL GROUP BY flags;
      INSERT INTO _event_names SELECT row_number() OVER (ORDER BY min(id)) - 1, event FROM _events_v0 WHERE event IS NOT NULL GROUP BY event;
      INSERT INTO _events
        SELECT e.id, e.file_id, e.line_no, e.ts_ns, e.cpu, e.tid, e.tgid, c.comm_id, f.flags_id, n.event_id
        FROM _events_v0 e LEFT JOIN _comms c USING (comm) LEFT JOIN _flags f USING (flags) LEFT JOIN _event_names n USING (event)
        ORDER BY e.id;
      DROP TABLE _events_v0;`);
  }

  /** Lost markers, unparsed lines and field errors, in their tables' column order. */
  rare(table: RareTable, values: (string | number | bigint | null)[]): void {
    const a = this.rareAppenders.get(table)!;
    for (const v of values) {
      if (v === null) a.appendNull();
      else if (typeof v === 'string') a.appendVarchar(v);
      else if (typeof v === 'number' && v === (v | 0)) a.appendInteger(v);
      else a.appendBigInt(BigInt(v));
    }
    a.endRow();
  }

  private dicts(): Dictionary[] {
    return [this.comms, this.flags, this.eventNames];
  }

  /** After a failed ingest: the strings coded so far are written, so the rows stored read right. */
  abort(): void {
    for (const d of this.dicts()) {
      try {
        d.close();
      } catch {
        // the database is failing too
      }
    }
  }

  finish(): void {
    for (const d of this.dicts()) d.close();
    for (const a of this.rareAppenders.values()) a.closeSync();
    for (const a of this.batchAppenders.values()) a.close();
  }
}

/** Tables of rows the parsers send one at a time. */
const RARE_TABLES = ['lost_events', 'unparsed', 'field_errors', 'callchain_frames'] as const;
export type RareTable = (typeof RARE_TABLES)[number];

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
