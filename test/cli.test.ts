// The command line as a new user meets it: exit codes (0 ok, 1 unusable input, 2 usage, 3 internal),
// a read-only query, clear messages for foreign or unreplayed databases, quiet EPIPE.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../src/ingest/ingest.js';
import { HOST, ROOT, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const BIN = path.join(ROOT, 'bin/mmreplay.js');
const db = path.join(dir, 'anon.duckdb');
const foreign = path.join(dir, 'foreign.duckdb');

/** Runs the CLI; resolves with its exit code and output. */
const cli = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(BIN, args, { cwd: ROOT, maxBuffer: 1 << 26 }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });

beforeAll(async () => {
  await ingest([path.join(HOST, 'anon/trace.txt')], { db });
  const inst = await DuckDBInstance.create(foreign);
  const conn = await inst.connect();
  await conn.run('CREATE TABLE accounts (id INTEGER)');
  conn.closeSync();
  inst.closeSync();
}, 60_000);

describe('query', () => {
  it('opens the database read-only and reaches no other file; --write allows changes', async () => {
    const [del, csv, copy, attach] = await Promise.all([
      cli(['query', db, 'DELETE FROM files']),
      cli(['query', db, "SELECT * FROM read_csv('/etc/passwd')"]),
      cli(['query', db, `COPY files TO '${path.join(dir, 'leak.csv')}'`]),
      cli(['query', db, `ATTACH '${path.join(dir, 'other.duckdb')}'`]),
    ]);
    expect(del.code).toBe(2);
    expect(del.err).toMatch(/opened read-only; pass --write/);
    for (const r of [csv, copy, attach]) {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/reads the database only/);
    }
    expect(fs.existsSync(path.join(dir, 'leak.csv'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'other.duckdb'))).toBe(false);
    expect((await cli(['query', db, 'CREATE TABLE notes (x INTEGER)', '--write'])).code).toBe(0);
    const files = await cli(['query', db, 'SELECT count(*) AS n FROM files', '-f', 'csv']);
    expect(files.out).toBe('n\n1\n');
  });

  it('refuses a database that does not exist instead of creating it', async () => {
    const missing = path.join(dir, 'typo.duckdb');
    const r = await cli(['query', missing, 'SELECT 1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/typo\.duckdb: no such database/);
    expect(fs.existsSync(missing)).toBe(false);
  });
});

describe('messages and exit codes', () => {
  it('a database that is not ours, or not replayed, gets one clear line', async () => {
    const [info, state, replay] = await Promise.all([
      cli(['info', foreign]),
      cli(['state', db, '--at', '513.2', '--pid', '365']),
      cli(['replay', foreign]),
    ]);
    expect(info).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^mmreplay: .*foreign\.duckdb: not an mmreplay database[^\n]*\n$/),
    });
    expect(replay).toMatchObject({
      code: 1,
      err: expect.stringMatching(/foreign\.duckdb: not an mmreplay database/),
    });
    expect(state).toMatchObject({
      code: 1,
      err: expect.stringMatching(/anon\.duckdb: not replayed yet: run `mmreplay replay/),
    });
    expect(info.err + state.err).not.toMatch(/Catalog Error/);
  });

  it('usage errors come first and short; help CMD and -h work', async () => {
    const [bad, help, h, ingestHelp] = await Promise.all([
      cli(['ingest']),
      cli(['help', 'query']),
      cli(['query', '-h']),
      cli(['help', 'ingest']),
    ]);
    expect(ingestHelp.out).toMatch(/-o, --db[\s\S]*-p, --pid/);
    expect(bad.code).toBe(2);
    expect(bad.err.split('\n')[0]).toMatch(/^mmreplay: Not enough non-option arguments/);
    expect(bad.err.split('\n').length).toBeLessThanOrEqual(3);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/mmreplay query <db> <sql>/);
    expect(h.out).toBe(help.out);
  });

  it('an output in a directory that does not exist is refused the same way for --db and record -o', async () => {
    const missing = path.join(dir, 'missing', 'dir');
    const [ingestR, recordR] = await Promise.all([
      cli(['ingest', path.join(HOST, 'anon/trace.txt'), '--db', path.join(missing, 'x.duckdb')]),
      cli(['record', '-o', path.join(missing, 'x'), '--', 'true']),
    ]);
    for (const r of [ingestR, recordR]) {
      expect(r.code).toBe(2);
      expect(r.err).toContain(
        `directory ${missing} does not exist (mmreplay creates files, not directories)`,
      );
    }
    expect(fs.existsSync(path.join(dir, 'missing'))).toBe(false);
  });

  it('an internal error exits 3 with one line and where to report it; --debug adds the stack', async () => {
    const run = (debug: boolean) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const code = `import('./cli/output.ts').then((m) => m.fail(new TypeError('boom')))`;
        const c = spawn(
          process.execPath,
          ['--import', 'tsx', '-e', code, ...(debug ? ['--', '--debug'] : [])],
          { cwd: ROOT },
        );
        let err = '';
        c.stderr.on('data', (d) => (err += d));
        c.on('exit', (code) => resolve({ code, err }));
      });
    const [plain, debug] = await Promise.all([run(false), run(true)]);
    expect(plain.code).toBe(3);
    expect(plain.err).toMatch(
      /^mmreplay: internal error: boom\nThis is a bug in mmreplay: please report it/,
    );
    expect(plain.err).not.toMatch(/at /);
    expect(debug.code).toBe(3);
    expect(debug.err).toMatch(/TypeError: boom\n\s+at /);
  });

  it('output cut short by its reader (| head) ends quietly', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(BIN, ['query', db, 'SELECT * FROM range(300000)'], { cwd: ROOT });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.stdout.once('data', () => c.stdout.destroy());
      c.on('exit', (code) => resolve({ code, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });
});
