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
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { BinaryFile, inflate, inflateBlocks, MAX_INFLATED } from '../src/parse/binary/bytes.js';
import { recordEncoder, DatWriter } from '../src/parse/binary/tracecmd-dat-writer.js';
import { binaryFormat } from '../src/parse/binary/tracing-data.js';
import { parseFormatFile } from '../src/parse/format.js';
import {
  eventDifferences,
  traceCmd,
  HOST,
  ingestTemp,
  ROOT,
  tmpDir,
  typedDifferences,
} from './helpers.js';

const LAB = path.join(ROOT, 'traces/lab');

/** Header lines (`# ...`) before the first event of a tracefs text file. */
function headerLines(file: string): number {
  const text = file.endsWith('.xz')
    ? execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 }).toString('utf8', 0, 4096)
    : fs.readFileSync(file, 'utf8').slice(0, 4096);
  return text.split('\n').findIndex((l) => !l.startsWith('#'));
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

  it('decompresses zstd chunks together (through zstd) as one by one, and names a chunk of a wrong stated size', () => {
    const file = new BinaryFile(write('blocks.dat', good.subarray(0, 64)));
    // 3 MB: enough for the zstd process (below 1 MB fzstd inflates them).
    const plain = [1, 2, 3].map((i) => crypto.randomBytes(4096 * 128 * i));
    const blocks = plain.map((d, i) => ({
      offset: 100 * i,
      data: execFileSync('zstd', ['-q', '-c'], { input: d, maxBuffer: 1 << 23 }),
      size: d.length,
      what: `chunk ${i}`,
    }));
    expect(inflateBlocks(file, 'zstd', blocks)).toEqual(plain);
    // Chunk 1 stated a page too long and chunk 2 a page too short: their total is right, and each
    // chunk alone shows the error, the first one named (fzstd into a buffer of the stated size
    // had padded chunk 1 with zeros).
    const shifted = blocks.map((b, i) => ({ ...b, size: b.size + [0, 4096, -4096][i] }));
    expect(() => inflateBlocks(file, 'zstd', shifted)).toThrow(
      /blocks\.dat: byte 100: chunk 1: decompressed to 1048576 bytes, the file says 1052672/,
    );
    expect(() => inflateBlocks(file, 'zstd', [shifted[2]])).toThrow(
      /blocks\.dat: byte 200: chunk 2: zstd data does not decompress \(more than the \d+ bytes stated\)/,
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

describe('absurd format files', () => {
  const kernel = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'src/synth/dat-kernel.json'), 'utf8'),
  ) as { headerPage: string; headerEvent: string };
  const common = [
    'field:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
    'field:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;',
    'field:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;',
    'field:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
    'field:unsigned long x;\toffset:8;\tsize:8;\tsigned:0;',
  ];
  /** A .dat of one 16-byte record (x = 0x1234) of event absurd:absurd, whose format file has
   *  `fields` after the common ones and `printFmt`. The writer takes the format as given. */
  const datWith = (name: string, fields: string[], printFmt: string): string => {
    const text = `name: absurd\nID: 900\nformat:\n${[...common, ...fields].map((f) => `\t${f}\n`).join('')}\nprint fmt: ${printFmt}\n`;
    const file = path.join(dir, `${name}.dat`);
    const w = new DatWriter(file, 1);
    const rec = Buffer.alloc(16);
    rec.writeUInt16LE(900, 0);
    rec.writeInt32LE(1, 4);
    rec.writeBigUInt64LE(0x1234n, 8);
    w.event(0, 1e9, rec, 16);
    w.close({
      headerPage: kernel.headerPage,
      headerEvent: kernel.headerEvent,
      formats: [
        {
          id: 900,
          event: 'absurd:absurd',
          format: parseFormatFile(text, 'absurd'),
          text,
          pidOffset: 4,
          flagsOffset: 2,
          preemptOffset: 3,
        },
      ],
      kallsyms: '',
      printk: '',
      comms: new Map([[1, 'one']]),
      clock: 'local',
      uname: null,
    });
    return file;
  };
  const refused = (name: string, problem: RegExp) =>
    expect(ingestTemp([path.join(dir, `${name}.dat`)])).rejects.toThrow(
      new RegExp(
        `${name}\\.dat: byte \\d+: format file of system absurd: absurd: ${problem.source}`,
      ),
    );

  it('refuses fields no record holds: an offset or size past 16 MiB, an array of 2^31 bytes', async () => {
    datWith(
      'offset',
      ['field:unsigned long far;\toffset:99999999999999999999;\tsize:8;\tsigned:0;'],
      '"x=%lx", REC->x',
    );
    await refused('offset', /field unsigned long far at offset 9+, 8 bytes, runs past any record/);
    datWith(
      'size',
      ['field:char big[4];\toffset:8;\tsize:4294967295;\tsigned:0;'],
      '"%s", REC->big',
    );
    await refused(
      'size',
      /field char big\[4\] at offset 8, 4294967295 bytes, runs past any record/,
    );
    datWith(
      'array',
      ['field:char arr[2147483648];\toffset:8;\tsize:2147483648;\tsigned:0;'],
      '"%s", REC->arr',
    );
    await refused('array', /field char arr\[2147483648\] at offset 8, 2147483648 bytes/);
  });

  it('refuses a field declaration that does not read', async () => {
    datWith('type', ['field:@@@ ###;\toffset:8;\tsize:8;\tsigned:0;'], '"x=%lx", REC->x');
    await refused('type', /a field line that does not read: field:@@@ ###;/);
  });

  it('refuses a print fmt too long or nested too deep, before compiling it (it took minutes)', async () => {
    datWith('long', [], `"x=%lx${' a=%d'.repeat(20000)}", REC->x${', REC->x'.repeat(20000)}`);
    await refused('long', /print fmt of \d+ characters \(at most 65536 are read\)/);
    datWith('deep', [], `"x=%lx", ${'('.repeat(1000)}REC->x${')'.repeat(1000)}`);
    await refused('deep', /print fmt nested over 256 deep/);
    datWith('unclosed', [], `"x=%lx, REC->x${'('.repeat(300)}`);
    await refused('unclosed', /print fmt nested over 256 deep/);
  });

  it('ingests thousands of fields, and a field past its record as NULL', async () => {
    const many = Array.from(
      { length: 2000 },
      (_, i) => `field:unsigned long f${i};\toffset:8;\tsize:8;\tsigned:0;`,
    );
    const far = 'field:unsigned long far;\toffset:100000;\tsize:8;\tsigned:0;';
    const { db, files } = await ingestTemp([
      datWith(
        'many',
        [...many, far],
        '"x=%lx f0=%lx f1999=%lx far=%lx", REC->x, REC->f0, REC->f1999, REC->far',
      ),
    ]);
    expect(files[0]).toMatchObject({ events: 1, unparsed: 0 });
    expect(await db.rows('SELECT x, f0, f1999, far FROM absurd_absurd')).toEqual([
      { x: 0x1234n, f0: 0x1234n, f1999: 0x1234n, far: null },
    ]);
    db.close();
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

describe('.dat writer', () => {
  it('writes ring-buffer pages our reader and trace-cmd read back: deltas, time extends, long records, an idle CPU', async () => {
    const kernel = JSON.parse(
      fs.readFileSync(path.join(ROOT, 'src/synth/dat-kernel.json'), 'utf8'),
    ) as { formats: Record<string, string>; headerPage: string; headerEvent: string };
    const fmt = (e: string) => binaryFormat(kernel.formats[e], e.slice(0, e.indexOf(':')));
    const print = fmt('ftrace:print');
    const ret = fmt('kprobes:mder_make_device_exclusive_range_ret');
    const noSymbols = (s: string): bigint => {
      throw new Error(`no symbol ${s}`);
    };
    const marker = recordEncoder(print, { ip: '0xffffffff810cd492' }, noSymbols);
    const call = recordEncoder(
      ret,
      { __probe_func: '0xffffffff81145049', __probe_ret_ip: '0xffffffff8103b87e' },
      noSymbols,
    );
    const file = path.join(dir, 'writer.dat');
    const w = new DatWriter(file, 3);
    const rec = Buffer.alloc(4096);
    // CPU 0: markers 1 ns apart, then the largest delta a header holds, the smallest that needs a
    // time extend, and 7 s; enough of them to fill many pages.
    const gaps = [1, 2 ** 27 - 1, 2 ** 27, 7e9, 1];
    const markers: { ts: number; buf: string }[] = [];
    let ts = 100e9;
    for (let i = 0; i < 3000; i++) {
      ts += gaps[i % gaps.length];
      const buf = `m ${i}${'x'.repeat(i % 150)}`;
      w.event(0, ts, rec, marker(rec, 1, 0, 0, [buf + '\n']));
      markers.push({ ts, buf });
    }
    // CPU 1: records longer than a type_len can say (548 bytes), a negative return value.
    const pages = Array.from({ length: 64 }, (_, i) => (i < 3 ? `0xffffea00004003${i}0` : 0));
    for (let i = 0; i < 20; i++)
      w.event(
        1,
        100e9 + i * 1000,
        rec,
        call(rec, 2, 1, 0, [i % 2 ? -16 : 64, 0x7f0000 + i, pages]),
      );
    w.close({
      headerPage: kernel.headerPage,
      headerEvent: kernel.headerEvent,
      formats: [print, ret],
      kallsyms: '',
      printk: '',
      comms: new Map([
        [1, 'one'],
        [2, 'two'],
      ]),
      clock: 'local',
      uname: null,
    });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const { db, files } = await ingestTemp([file]);
    expect(files[0]).toMatchObject({ format: 'trace-cmd-dat', events: 3020, unparsed: 0, lost: 0 });
    expect(files[0].metadata).toMatchObject({ file_version: 6, clock: 'local', cpus: 3 });
    const got = await db.rows<{ ts: bigint; buf: string; comm: string; flags: string }>(
      `SELECT e.ts_ns AS ts, p.buf, e.comm, e.flags FROM ftrace_print p JOIN events e USING (id) ORDER BY e.line_no`,
    );
    expect(got.map((r) => ({ ts: Number(r.ts), buf: r.buf }))).toEqual(markers);
    expect(new Set(got.map((r) => `${r.comm} ${r.flags}`))).toEqual(new Set(['one .....']));
    const calls = await db.rows<{
      ret: bigint;
      start: bigint;
      pages: string;
      comm: string;
      flags: string;
    }>(
      `SELECT k.ret, k.start, k.pages, e.comm, e.flags FROM kprobes_mder_make_device_exclusive_range_ret k JOIN events e USING (id) WHERE e.cpu = 1 ORDER BY e.ts_ns`,
    );
    expect(calls.map((c) => Number(c.ret))).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? -16 : 64)),
    );
    expect(calls[19]).toMatchObject({ start: 0x7f0013n, comm: 'two', flags: 'd....' });
    expect(calls[0].pages).toBe(`{${pages.map((p) => (p === 0 ? '0x0' : p)).join(',')}}`);
    db.close();
    if (traceCmd) {
      const r = spawnSync('trace-cmd', ['report', '-i', file], { maxBuffer: 1 << 26 });
      expect(r.status).toBe(0);
      expect(r.stderr.toString()).toBe('');
      const lines = r.stdout.toString().trimEnd().split('\n');
      expect(lines[0]).toBe('cpus=3');
      expect(lines.length).toBe(1 + 3020);
      // The clock after the CPU offsets, where trace-cmd's reader of v6 files takes it from.
      const dump = spawnSync('trace-cmd', ['dump', '--clock', '-i', file]);
      expect(dump.stdout.toString()).toMatch(/\[Tracing clock\]\s+\[local\]/);
      // Its nanoseconds (-t) are ours: the deltas and time extends mean the same to trace-cmd.
      const t = spawnSync('trace-cmd', ['report', '-t', '-i', file], { maxBuffer: 1 << 26 });
      const printed = [
        ...t.stdout.toString().matchAll(/ (\d+)\.(\d{9}): +print: +(\S+: )?m (\d+)/g),
      ];
      expect(printed.map((m) => Number(m[1]) * 1e9 + Number(m[2]))).toEqual(
        markers.map((m) => m.ts),
      );
    }
  }, 60_000);

  it('leaves nothing behind when the run is given up', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'discard-'));
    const w = new DatWriter(path.join(sub, 'x.dat'), 2);
    w.event(1, 100e9, Buffer.alloc(16), 16);
    expect(fs.readdirSync(sub).length).toBe(2);
    w.discard();
    expect(fs.readdirSync(sub)).toEqual([]);
  });
});
