// `mmreplay ingest`: reads trace files (any supported format, compressed or not) into DuckDB.
import fs from 'node:fs';
import { writeAtomically } from '../store/atomic.js';
import { Db } from '../store/db.js';
import { INGEST_MEMORY_LIMIT, Loader } from '../store/loader.js';
import { fileParsesInline, ingestBinary, openBinary } from './binary.js';
import { ingestText } from './text.js';
import { ParseWorker, parsesInline } from './parse-store.js';
import { UsageError } from '../errors.js';
import type { ProbeRow } from '../parse/probes.js';
import type { TraceFormat } from '../parse/record.js';
import type { FileSummary } from './summary.js';

export interface IngestFilter {
  pid?: number;
  comm?: string;
  fromNs?: bigint;
  toNs?: bigint;
}

export interface IngestOptions {
  /** The database to write: built beside it and renamed into place when ingest succeeds. */
  db: string;
  /** Start from an empty database instead of appending to the one at `db`. */
  replace?: boolean;
  format?: TraceFormat;
  formatsDir?: string;
  /** Probe definition files (kprobe_events syntax or `perf probe -l`); default: kprobe_events beside the trace. */
  probes?: string[];
  /** A /proc/kallsyms copy or System.map; default: kallsyms(.txt) beside the trace. */
  kallsyms?: string;
  filter?: IngestFilter;
  /**
   * Where text is parsed: on a worker thread, or on this one; default by size (text.ts), or
   * MMREPLAY_INGEST_WORKER=worker|inline.
   */
  parseOn?: 'worker' | 'inline';
  onProgress?: (p: { file: string; bytesRead: number; bytes: number; events: number }) => void;
  onWarning?: (message: string) => void;
}

export type { ProbeRow };

export type { FileSummary } from './summary.js';

/** Parses `3835.535258` (seconds) or `3835535258000ns` into exact ns. */
export function parseTimeArg(s: string): bigint {
  const t = s.trim();
  let m = /^(\d+)ns$/.exec(t);
  if (m) return BigInt(m[1]);
  m = /^(\d+)(?:\.(\d{0,9}))?s?$/.exec(t);
  if (!m)
    throw new UsageError(
      `bad time "${s}": expected SECONDS[.FRACTION] (as the trace prints) or NANOSECONDSns`,
    );
  return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export async function ingest(files: string[], opts: IngestOptions): Promise<FileSummary[]> {
  // The first file's parsing worker starts while the database opens.
  const inline = (f: string) =>
    opts.format ? parsesInline(f, opts.parseOn) : fileParsesInline(f, opts.parseOn);
  const pending = files.length && !inline(files[0]) ? new ParseWorker() : null;
  try {
    if (
      opts.replace &&
      opts.db !== ':memory:' &&
      fs.existsSync(opts.db) &&
      fs.statSync(opts.db).size > 0
    ) {
      // Replace only a database of ours: never another program's file.
      const old = await Db.open(opts.db, { readOnly: true });
      try {
        if ((await old.tables()).length) await old.requireOurs();
      } finally {
        old.close();
      }
    }
    return await writeAtomically(opts.db, { copy: !opts.replace }, async (file) => {
      const db = await Db.open(file, { create: true, as: opts.db });
      try {
        return await ingestDb(db, files, opts, pending);
      } finally {
        db.close();
      }
    });
  } finally {
    await pending?.stop();
  }
}

/**
 * Ingests into an open database in place (`ingest` gives it a copy); `pending`: a parsing worker
 * started for the first file.
 */
export async function ingestDb(
  db: Db,
  files: string[],
  opts: Omit<IngestOptions, 'db'>,
  pending: ParseWorker | null = null,
): Promise<FileSummary[]> {
  if ((await db.tables()).length) await db.requireOurs();
  {
    // Keep DuckDB's buffer pool small (loader.ts). What stays is the code, the appenders' buffers
    // and the JS heap: bench/ingest.ts.
    await db.run(`SET memory_limit = '${INGEST_MEMORY_LIMIT}'; SET threads = 1`);
    // One transaction: its appenders' flushes (column-batch.ts) are then no commits, which would
    // write every row to the WAL first (50 % more CPU); full row groups go to the file as they fill.
    await db.run('BEGIN TRANSACTION');
    const loader = new Loader(db);
    await loader.init();
    const first = await db.rows<{ n: bigint | null; f: number | null }>(
      'SELECT max(id) + 1 AS n, (SELECT max(file_id) + 1 FROM files) AS f FROM _events',
    );
    // Ids are Numbers while ingesting: exact up to 2^53 events.
    let nextId = Number(first[0]?.n ?? 0);
    let fileId = Number(first[0]?.f ?? 0);
    const out: FileSummary[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const s = await ingestFile(file, fileId++, nextId, loader, opts, i ? null : pending);
        nextId += s.events;
        out.push(s);
      }
    } catch (e) {
      loader.abort();
      await db.run('ROLLBACK').catch(() => {});
      throw e;
    }
    // The appenders' last rows and the files' rows commit with the rest: one commit, which
    // writes the rows the transaction still holds (from memory freed by a purge first).
    loader.finish();
    await loader.purge();
    for (const s of out) {
      await db.run(
        `INSERT INTO files VALUES (${s.fileId}, ${lit(s.path)}, ${lit(s.format)}, ${lit(s.compression)}, ${s.lines}, ${s.headerLines}, ${s.bytes}, ${s.events}, ${s.filtered}, ${s.unparsed}, ${s.lost}, ${lit(JSON.stringify(s.metadata))})`,
      );
      for (const p of s.probes) {
        const d = p.definition;
        const args = d ? lit(JSON.stringify(d.args)) : 'NULL';
        await db.run(
          `INSERT INTO probes VALUES (${s.fileId}, ${lit(p.event)}, ${lit(p.kind)}, ${p.func === null ? 'NULL' : lit(p.func)}, ${p.offset ?? 'NULL'}, ${lit(p.printed)}, ${p.source === null ? 'NULL' : lit(p.source)}, ${d ? lit(d.target) : 'NULL'}, ${args})`,
        );
      }
    }
    await db.run('COMMIT');
    return out;
  }
}

function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function ingestFile(
  file: string,
  fileId: number,
  firstId: number,
  loader: Loader,
  opts: Omit<IngestOptions, 'db'>,
  pending: ParseWorker | null,
): Promise<FileSummary> {
  // A trace-cmd .dat or perf.data (compressed or not) is read by its binary reader.
  const binary = opts.format ? null : await openBinary(file);
  if (binary) return ingestBinary(file, binary, fileId, firstId, loader, opts, pending);
  return ingestText(file, fileId, firstId, loader, opts, pending);
}
