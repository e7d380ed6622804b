// Mutated binary traces (perf.data and .dat of traces/host: cut short, bytes and 32/64-bit fields
// overwritten, mostly in their headers): every failure is a typed error naming the file and a
// byte, never a crash or a hang. A few hundred in the suite, each a full ingest.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ingestBinaryOnce,
  loadBinaryCorpus,
  located,
  mutateBinary,
  rng,
  tempDir,
} from '../bench/fuzz-core.js';
import { MmreplayError } from '../src/errors.js';

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
});
