// trace-cmd .dat files ingest to the same rows as the tracefs text of the same ring buffer: the
// lab saved both (trace.txt.xz is `cat trace` of the instance `trace-cmd extract` then wrote to
// trace.dat.xz), and traces/host the same for its instance B (plus `trace-cmd report -t` of the
// .dat, which keeps the nanoseconds).
//
// Documented differences, all on the text side:
// - tracefs prints µs rounded to the nearest (ns2usecs adds 500): compared as (ts_ns + 500) // 1000;
// - a pointer the kernel prints as a symbol (%pS, a kprobe `:symbol` argument) is NULL from text,
//   the address from the .dat (its `_sym` column agrees);
// - kprobe tables' `__probe_ip` / `__probe_func` / `__probe_ret_ip` exist only in binary input;
// - traces/host's kernel hashes %p pointers in tracefs text (no `no_hash_pointers`).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { BinaryFile, inflate, MAX_INFLATED } from '../src/parse/binary/bytes.js';
import type { Db } from '../src/store/db.js';
import { HOST, ingestTemp, ROOT, tmpDir } from './helpers.js';

const LAB = path.join(ROOT, 'traces/lab');

/** Header lines (`# ...`) before the first event of a tracefs text file. */
function headerLines(file: string): number {
  const text = file.endsWith('.xz')
    ? execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 }).toString('utf8', 0, 4096)
    : fs.readFileSync(file, 'utf8').slice(0, 4096);
  return text.split('\n').findIndex((l) => !l.startsWith('#'));
}

/** Rows of file 0 (.dat) that file 1 (text) lacks, per typed table, over the comparable columns. */
async function typedDifferences(
  db: Db,
  skip: (table: string, column: string) => boolean,
  ts1 = 'e.ts_ns // 1000',
  ts0 = '(e.ts_ns + 500) // 1000',
): Promise<Record<string, number>> {
  const tables = await db.rows<{ t: string }>(
    `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE column_name = 'id' AND table_name NOT IN ('_events', 'events', 'other_events', 'field_errors') ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const cols = (
      await db.rows<{ c: string }>(
        `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${t}' AND column_name <> 'id' ORDER BY ordinal_position`,
      )
    )
      .map((r) => r.c)
      .filter(
        (c, _i, all) => !c.startsWith('__probe_') && !all.includes(`${c}_sym`) && !skip(t, c),
      );
    const sel = (file: number, ts: string) =>
      `SELECT ${ts} AS t, e.cpu, e.tid${cols.map((c) => `, x."${c}"`).join('')}, ${file} AS f FROM "${t}" x JOIN events e USING (id) WHERE e.file_id = ${file}`;
    const keys = ['t', 'cpu', 'tid', ...cols.map((c) => `"${c}"`)].join(', ');
    // Each distinct row as often in one file as in the other (EXCEPT ALL both ways, in one pass).
    const [{ a, n }] = await db.rows<{ a: bigint; n: bigint }>(
      `SELECT coalesce(sum(abs(n0 - n1)), 0)::BIGINT AS a, coalesce(sum(n0), 0)::BIGINT AS n FROM (
         SELECT ${keys}, count(*) FILTER (WHERE f = 0) AS n0, count(*) FILTER (WHERE f = 1) AS n1
         FROM (${sel(0, ts0)} UNION ALL ${sel(1, ts1)}) GROUP BY ${keys})`,
    );
    out[t] = Number(a);
    expect(Number(n), t).toBeGreaterThan(0);
  }
  return out;
}

/** Events of file 0 and file 1 side by side in input order: the number that disagree. */
async function eventDifferences(
  db: Db,
  textHeader: number,
  ts0 = '(a.ts_ns + 500) // 1000',
  ts1 = 'b.ts_ns // 1000',
  flags = true,
  other = 1,
): Promise<number> {
  const [{ bad }] = await db.rows<{ bad: bigint }>(
    `SELECT count(*) AS bad FROM events a FULL JOIN events b ON a.file_id = 0 AND b.file_id = ${other} AND a.line_no + ${textHeader} = b.line_no
     WHERE (a.file_id = 0 OR b.file_id = ${other}) AND (a.id IS NULL OR b.id IS NULL OR ${ts0} <> ${ts1} OR a.cpu <> b.cpu OR a.tid <> b.tid OR a.comm <> b.comm${flags ? ' OR a.flags IS DISTINCT FROM b.flags' : ''} OR a.event <> b.event)`,
  );
  return Number(bad);
}

/** `n` zero bytes, zstd-compressed by the zstd tool (a few hundred bytes). */
function zstdCompress(n: number): Buffer {
  return execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(n), maxBuffer: 1 << 20 });
}

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('trace-cmd .dat', () => {
  for (const lab of ['6.12/race-thp', '6.1/hmm-exclusive_mprotect']) {
    it(`lab ${lab}: v7 .dat = tracefs text, event for event and field for field`, async () => {
      const d = path.join(LAB, lab);
      const text = path.join(d, 'trace.txt.xz');
      const { db, files } = await ingestTemp([path.join(d, 'trace.dat.xz'), text]);
      expect(files[0]).toMatchObject({
        format: 'trace-cmd-dat',
        compression: 'xz',
        unparsed: 0,
        lost: 0,
        events: files[1].events,
      });
      expect(files[0].metadata).toMatchObject({
        file_version: 7,
        kernel_release: lab.startsWith('6.12') ? '6.12.117' : '6.1.192',
        clock: 'mono',
        cpus: 2,
      });
      expect(await eventDifferences(db, headerLines(text))).toBe(0);
      const diff = await typedDifferences(
        db,
        (t, c) => t === 'kprobes_mder_rmap_walk' && c === 'rmap_one',
      );
      expect(Object.entries(diff).filter(([, n]) => n)).toEqual([]);
      // The kallsyms table binds each kprobe's __probe_ip to its function: the symbol at or
      // below it (a probe may sit past the function's start, `+0x4` after an endbr64).
      const [{ unbound }] = await db.rows<{ unbound: bigint }>(
        `SELECT count(*) AS unbound FROM (SELECT k.__probe_ip AS ip, k.func FROM kprobes_mder_make_device_exclusive_range k JOIN events e USING (id) WHERE e.file_id = 0) k
         ASOF LEFT JOIN (SELECT * FROM kallsyms WHERE file_id = 0) s ON k.ip >= s.addr WHERE s.name IS DISTINCT FROM k.func`,
      );
      expect(unbound).toBe(0n);
      db.close();
    }, 180_000);
  }

  it('host anon: zstd v7 of an instance = tracefs text, and = trace-cmd report -t to the ns', async () => {
    const d = path.join(HOST, 'anon');
    const { db, files } = await ingestTemp([
      path.join(d, 'trace.dat.xz'),
      path.join(d, 'trace.txt'),
      path.join(d, 'report-t.txt'),
    ]);
    expect(files[0].metadata).toMatchObject({
      compression: 'zstd 1.5.4',
      kernel_release: '6.18.44-fc-v595',
    });
    expect((files[0].metadata.buffers as { name: string }[]).map((b) => b.name)).toEqual([
      '',
      'mmr-cap-B-32625',
    ]);
    expect(await eventDifferences(db, headerLines(path.join(d, 'trace.txt')))).toBe(0);
    // This kernel hashes %p in tracefs text: pointer columns are left out.
    const hashed = new Set(['mm', 'folio', 'ip']);
    const diff = await typedDifferences(db, (_t, c) => hashed.has(c));
    expect(Object.entries(diff).filter(([, n]) => n)).toEqual([]);
    // trace-cmd report -t of the same .dat keeps the ns (and prints no flags column).
    expect(await eventDifferences(db, 1, 'a.ts_ns', 'b.ts_ns', false, 2)).toBe(0);
    db.close();
  }, 180_000);
});

describe('bad .dat input', () => {
  const good = execFileSync('xz', ['-dc', path.join(LAB, '6.12/race-thp/trace.dat.xz')], {
    maxBuffer: 1 << 28,
  });
  const write = (name: string, data: Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };
  // Magic (10), "7\0", endianness, long size, page size (4), then the compression name and
  // version strings, then the first options section's offset.
  const nameEnd = good.indexOf(0, 18);
  const optionsAt = Number(good.readBigUInt64LE(good.indexOf(0, nameEnd + 1) + 1));

  it('names the file and byte offset of a truncated file', async () => {
    const p = write('truncated.dat', good.subarray(0, Math.floor(good.length * 0.6)));
    await expect(ingestTemp([p])).rejects.toThrow(
      /truncated\.dat: byte \d+: .*past the end of the file/,
    );
  });

  it('refuses a version it does not read', async () => {
    const bad = Buffer.from(good);
    bad[10] = '9'.charCodeAt(0);
    await expect(ingestTemp([write('v9.dat', bad)])).rejects.toThrow(
      /v9\.dat: byte 10: .*file version "9"/,
    );
  });

  it('refuses a compression bomb: a declared size over the limit, data that inflates past it', () => {
    const file = new BinaryFile(write('bomb.dat', good.subarray(0, 64)));
    const bomb = zlib.deflateSync(Buffer.alloc(64 << 20));
    expect(() => inflate(file, 40, 'zlib', bomb, MAX_INFLATED + 1, 'section')).toThrow(
      /bomb\.dat: byte 40: section: decompressed size \d+ is over the \d+-byte limit/,
    );
    expect(() => inflate(file, 40, 'zlib', bomb, 4096, 'section')).toThrow(
      /bomb\.dat: byte 40: section: zlib data does not decompress/,
    );
    expect(() => inflate(file, 40, 'zstd', zstdCompress(64 << 20), 4096, 'section')).toThrow(
      /bomb\.dat: byte 40: section: zstd data does not decompress/,
    );
    file.close();
  });

  it('names a section whose header is wrong', async () => {
    const bad = Buffer.from(good);
    bad.writeUInt16LE(0x7777, optionsAt);
    await expect(ingestTemp([write('section.dat', bad)])).rejects.toThrow(
      new RegExp(`section\\.dat: byte ${optionsAt}: options section: section id 30583, expected 0`),
    );
  });
});

describe('.dat variants', () => {
  it('file version 6 gives the rows of the v7 file it was converted from', async () => {
    const { db, files } = await ingestTemp([
      path.join(LAB, '6.12/race-thp/trace.dat.xz'),
      path.join(HOST, 'dat/race-thp.v6.dat.xz'),
    ]);
    expect(files.map((f) => f.metadata.file_version)).toEqual([7, 6]);
    expect(files[1].events).toBe(files[0].events);
    expect(await eventDifferences(db, 0, 'a.ts_ns', 'b.ts_ns')).toBe(0);
    const diff = await typedDifferences(db, () => false, 'e.ts_ns', 'e.ts_ns');
    expect(Object.entries(diff).filter(([, n]) => n)).toEqual([]);
    db.close();
  }, 180_000);

  it("a page's missed-events flag becomes a lost_events row, as trace-cmd report shows it", async () => {
    const { db, files } = await ingestTemp([path.join(HOST, 'dat/lost.dat')]);
    expect(files[0]).toMatchObject({ events: 314, lost: 602372 + 972249 });
    // report: line 2 `CPU:1 [602372 EVENTS DROPPED]`, line 161 `CPU:0 [972249 EVENTS DROPPED]`
    // (line 1 is `cpus=2`); the file's CPUSTAT overruns are the same numbers.
    const lost = await db.rows<{ line_no: bigint; cpu: number; count: bigint }>(
      'SELECT line_no, cpu, count FROM lost_events ORDER BY line_no',
    );
    expect(lost).toEqual([
      { line_no: 1n, cpu: 1, count: 602372n },
      { line_no: 160n, cpu: 0, count: 972249n },
    ]);
    const stats = files[0].metadata.cpu_stats as { buffer: string; cpu: number; overrun: number }[];
    expect(stats.filter((s) => s.buffer !== '').map((s) => [s.cpu, s.overrun])).toEqual([
      [0, 972249],
      [1, 602372],
    ]);
    db.close();
  }, 180_000);
});
