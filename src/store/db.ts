// The DuckDB session: one database file, one connection, the schema and its view library.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { DatabaseError } from '../errors.js';
import { quoteIdent, quoteString } from './quote.js';

const SQL_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'sql');

export function sqlFile(name: string): string {
  return fs.readFileSync(path.join(SQL_DIR, name), 'utf8');
}

export class Db {
  private constructor(
    readonly path: string,
    private _instance: DuckDBInstance,
    private _conn: DuckDBConnection,
    private readonly spill: string | null = null,
    /** The file and configuration it was opened with (for resume). */
    private readonly file: string = path,
    private readonly config: Record<string, string> = {},
  ) {}

  get instance(): DuckDBInstance {
    return this._instance;
  }

  get conn(): DuckDBConnection {
    return this._conn;
  }

  /** The database file, for another thread to open while this one is suspended; null in memory. */
  get fileForHandoff(): string | null {
    return this.file === ':memory:' || Object.keys(this.config).length ? null : this.file;
  }

  /**
   * Closes the database (checkpointing it) so that another thread of the process can open the
   * file alone; resume() opens it again once that one closed it. Settings made with SET are lost.
   */
  suspend(): void {
    this._conn.closeSync();
    this._instance.closeSync();
  }

  async resume(): Promise<void> {
    this._instance = await DuckDBInstance.create(this.file, this.config);
    this._conn = await this._instance.connect();
  }

  /**
   * Opens a database. `readOnly` opens it READ_ONLY; `sandbox` also takes away every file outside
   * it (`enable_external_access = false`, locked: no COPY, ATTACH, read_csv, INSTALL) except the
   * paths it lists. `as` is the name messages give it (a temporary copy's target).
   */
  static async open(
    file: string,
    opts: {
      create?: boolean;
      readOnly?: boolean;
      sandbox?: { allowedPaths: string[] };
      as?: string;
    } = {},
  ): Promise<Db> {
    if (file !== ':memory:') {
      if (!fs.existsSync(file)) {
        if (!opts.create)
          throw new DatabaseError(
            opts.as ?? file,
            `no such database (create one with \`mmreplay ingest TRACE --db ${file}\`)`,
          );
      } else if (fs.statSync(file).size > 0 && !isDuckDbFile(file))
        throw new DatabaseError(opts.as ?? file, 'not a DuckDB database');
    }
    const config: Record<string, string> = opts.readOnly ? { access_mode: 'READ_ONLY' } : {};
    // An in-memory database spills to `.tmp` in the working directory by default, which two
    // processes then share and overwrite each other's blocks in ("Could not read enough bytes from
    // file .tmp/duckdb_temp_storage..."): each gets a directory of its own, removed on close.
    const spill =
      file === ':memory:' ? fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-spill-')) : null;
    if (spill) config.temp_directory = spill;
    if (opts.sandbox)
      Object.assign(config, {
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(file, config);
    } catch (e) {
      if (spill) fs.rmSync(spill, { recursive: true, force: true });
      throw new DatabaseError(
        opts.as ?? file,
        `cannot open: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    const conn = await instance.connect();
    if (opts.sandbox) {
      const paths = opts.sandbox.allowedPaths.map(quoteString).join(', ');
      await conn.run(
        `SET allowed_paths = [${paths}]; SET enable_external_access = false; SET lock_configuration = true`,
      );
    }
    return new Db(opts.as ?? file, instance, conn, spill, file, config);
  }

  /** Refuses a database mmreplay did not make (ingest writes `files` and `_events`); returns its tables. */
  async requireOurs(): Promise<Set<string>> {
    const t = new Set(await this.tables());
    if (!t.has('files') || !(t.has('_events') || t.has('events'))) {
      throw new DatabaseError(
        this.path,
        'not an mmreplay database (no files or _events table); make one with `mmreplay ingest TRACE --db FILE`',
      );
    }
    return t;
  }

  /** Refuses a database that was not replayed. */
  async requireReplayed(): Promise<void> {
    const t = await this.requireOurs();
    if (!t.has('replay_runs'))
      throw new DatabaseError(
        this.path,
        `not replayed yet: run \`mmreplay replay ${this.path}\` first`,
      );
  }

  async run(sql: string): Promise<void> {
    await this.conn.run(sql);
  }

  async rows<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const r = await this.conn.runAndReadAll(sql);
    return r.getRowObjectsJS() as T[];
  }

  /** rows() on a connection of its own: the query runs beside those of this one. */
  async rowsAside<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const conn = await this.instance.connect();
    try {
      return (await conn.runAndReadAll(sql)).getRowObjectsJS() as T[];
    } finally {
      conn.closeSync();
    }
  }

  async tables(): Promise<string[]> {
    const r = await this.rows<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'main'`,
    );
    return r.map((x) => x.name);
  }

  /** Every table's columns and their DuckDB types, in order (information_schema's names). */
  async columns(): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    for (const r of await this.rows<{ t: string; c: string; type: string }>(
      `SELECT table_name t, column_name c, data_type AS "type" FROM information_schema.columns WHERE table_schema = 'main' ORDER BY table_name, ordinal_position`,
    )) {
      if (!out.has(r.t)) out.set(r.t, new Map());
      out.get(r.t)!.set(r.c, r.type);
    }
    return out;
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
    if (this.spill) fs.rmSync(this.spill, { recursive: true, force: true });
  }
}

/** Whether FILE starts with DuckDB's header (`DUCK` at byte 8). */
export function isDuckDbFile(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(12);
    fs.readSync(fd, b, 0, 12, 0);
    fs.closeSync(fd);
    return b.subarray(8, 12).toString('latin1') === 'DUCK';
  } catch {
    return false;
  }
}

export { quoteIdent, quoteString };
