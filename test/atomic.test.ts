// Outputs are written atomically: a failed or killed ingest or replay leaves the previous database
// byte-identical; ingest appends unless told to replace; nothing writes into a foreign database.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingest } from '../src/ingest/ingest.js';
import { replay } from '../src/replay/replay.js';
import { HOST, ROOT, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const anon = path.join(HOST, 'anon/trace.txt');
const stress = path.join(HOST, 'stress/report.txt.xz');
const hash = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const count = async (f: string, sql: string) => {
  const db = await Db.open(f, { readOnly: true });
  try {
    return Number((await db.rows<{ n: bigint }>(sql))[0].n);
  } finally {
    db.close();
  }
};

describe('atomic outputs', () => {
  it('a failed ingest leaves the previous database byte-identical', async () => {
    const db = path.join(dir, 'good.duckdb');
    await ingest([anon], { db });
    const before = hash(db);
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '');
    await expect(ingest([empty], { db })).rejects.toThrow(/empty\.txt: empty file/);
    await expect(ingest([empty], { db, replace: true })).rejects.toThrow(/empty\.txt: empty file/);
    expect(hash(db)).toBe(before);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.wal'))).toEqual([]);
  });

  it('ingest appends to an existing database unless asked to replace it', async () => {
    const db = path.join(dir, 'append.duckdb');
    const [one] = await ingest([anon], { db });
    await ingest([anon], { db });
    expect(await count(db, 'SELECT count(*) AS n FROM files')).toBe(2);
    expect(await count(db, 'SELECT count(*) AS n FROM events')).toBe(2 * one.events);
    await ingest([anon], { db, replace: true });
    expect(await count(db, 'SELECT count(*) AS n FROM events')).toBe(one.events);
  });

  it('neither ingest nor replay writes into a database mmreplay did not make', async () => {
    const db = path.join(dir, 'foreign.duckdb');
    const inst = await DuckDBInstance.create(db);
    const conn = await inst.connect();
    await conn.run(
      'CREATE TABLE accounts (id INTEGER, name VARCHAR); INSERT INTO accounts VALUES (1, $$a$$)',
    );
    conn.closeSync();
    inst.closeSync();
    const before = hash(db);
    await expect(replay(db)).rejects.toThrow(/foreign\.duckdb: not an mmreplay database/);
    await expect(ingest([anon], { db })).rejects.toThrow(
      /foreign\.duckdb: not an mmreplay database/,
    );
    await expect(ingest([anon], { db, replace: true })).rejects.toThrow(
      /foreign\.duckdb: not an mmreplay database/,
    );
    expect(hash(db)).toBe(before);
  });

  describe('killed at random points (SIGKILL)', () => {
    const db = path.join(dir, 'killed.duckdb');
    beforeAll(async () => {
      await ingest([stress], { db });
    }, 120_000);

    // A child run of the CLI, killed `ms` after it first touched the database's directory (a file
    // created, removed or written): startup takes seconds on a loaded machine, and a kill before
    // any write would prove nothing. Resolves with the signal that ended it.
    const killWhileWriting = (args: string[], ms: number) =>
      new Promise<string | null>((resolve) => {
        const snapshot = () =>
          fs
            .readdirSync(dir)
            .map(
              (f) => `${f}:${fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.mtimeMs}`,
            )
            .join();
        const before = snapshot();
        const child = spawn(path.join(ROOT, 'bin/mmreplay.js'), args, { stdio: 'ignore' });
        let timer: NodeJS.Timeout | undefined;
        const poll = setInterval(() => {
          if (snapshot() === before) return;
          clearInterval(poll);
          timer = setTimeout(() => child.kill('SIGKILL'), ms);
        }, 5);
        child.on('exit', (_code, signal) => {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(signal);
        });
      });

    const rand = (hi: number) => Math.floor(Math.random() * hi);
    for (const [what, args, hi] of [
      ['ingest', () => ['ingest', stress, '--db', db], 3000],
      ['replay', () => ['replay', db], 1500],
    ] as const) {
      it(`${what}: the previous database is intact each time`, async () => {
        let killed = 0;
        // Two runs, and more (up to six) while none was killed before it finished.
        for (let i = 0; i < 6 && (i < 2 || killed === 0); i++) {
          const before = hash(db);
          const events = await count(db, 'SELECT count(*) AS n FROM events');
          const signal = await killWhileWriting(args(), rand(i < 2 ? hi : hi / 4));
          // The database is the previous one, or (if the run finished first) the new one whole.
          if (signal === 'SIGKILL') {
            killed++;
            expect(hash(db)).toBe(before);
          }
          expect(await count(db, 'SELECT count(*) AS n FROM events')).toBeGreaterThanOrEqual(
            events,
          );
        }
        expect(killed).toBeGreaterThan(0);
      }, 120_000);
    }
  });
});
