// Mutated binary traces (perf.data and .dat: cut short, bytes and 32/64-bit fields overwritten,
// mostly in their headers): every failure is a typed error naming the file and a byte, never a
// crash or a hang. A few hundred of traces/host's, each a full ingest; then many more of a small
// .dat and a perf.data, each through the parse of ingest alone (binary-parse.ts, no database).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ingestBinaryOnce,
  loadBinaryCorpus,
  located,
  mutateBinary,
  parseBinaryOnce,
  parseJob,
  rng,
  tempDir,
  tinyDat,
} from '../bench/fuzz-core.js';
import { MmreplayError } from '../src/errors.js';
import { HOST } from './helpers.js';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('binary fuzz', () => {
  it('300 mutated perf.data and .dat files: no crash, every failure typed and located', async () => {
    const corpus = loadBinaryCorpus();
    const seed = Number(process.env.FUZZ_SEED ?? 20261206);
    const r = rng(seed);
    const crashes: string[] = [];
    let failed = 0;
    for (let n = 0; n < 300; n++) {
      const src = corpus[Math.floor(r() * corpus.length)];
      const file = path.join(dir, `m${n}.bin`);
      fs.writeFileSync(file, mutateBinary(src.data, r));
      const e = await ingestBinaryOnce(file);
      if (e) failed++;
      if (e && !(e instanceof MmreplayError && located(e)))
        crashes.push(
          `seed ${seed} #${n} (${src.name}): ${e.stack?.split('\n').slice(0, 3).join(' | ')}`,
        );
      fs.rmSync(file);
    }
    expect(crashes).toEqual([]);
    // Most mutations break the file; some leave it readable.
    expect(failed).toBeGreaterThan(100);
  }, 600_000);

  const parsed = Number(process.env.FUZZ_BINARY_PARSED ?? 100_000);
  it(`${parsed} mutated inputs parsed without a database: no crash, every failure typed and located`, async () => {
    const tiny = path.join(dir, 'tiny.dat');
    tinyDat(tiny);
    // One perf.data in twenty: a recorded one (255 events) parses in several times the time.
    const sources = [
      { name: 'tiny.dat', data: fs.readFileSync(tiny), weight: 19 },
      {
        name: 'anon/perf.data',
        data: fs.readFileSync(path.join(HOST, 'anon/perf.data')),
        weight: 1,
      },
    ];
    expect(await parseBinaryOnce(tiny, await parseJob())).toBeNull();
    const base = await parseJob();
    const seed = Number(process.env.FUZZ_SEED ?? 20261207);
    const r = rng(seed);
    const crashes: string[] = [];
    let failed = 0;
    // One file rewritten in place: opening a new one per input cost more than parsing it.
    const file = path.join(dir, 'parsed.bin');
    const fd = fs.openSync(file, 'w');
    try {
      for (let n = 0; n < parsed; n++) {
        const src = r() * 20 < sources[0].weight ? sources[0] : sources[1];
        const m = mutateBinary(src.data, r);
        fs.writeSync(fd, m, 0, m.length, 0);
        fs.ftruncateSync(fd, m.length);
        const e = await parseBinaryOnce(file, base);
        if (e) failed++;
        if (e && !(e instanceof MmreplayError && located(e)))
          crashes.push(
            `seed ${seed} #${n} (${src.name}): ${e.stack?.split('\n').slice(0, 3).join(' | ')}`,
          );
      }
    } finally {
      fs.closeSync(fd);
    }
    expect(crashes).toEqual([]);
    expect(failed).toBeGreaterThan(parsed / 3);
  }, 900_000);
});
