// The fuzzed pipeline: 10^4 mutated windows of the real traces under traces/host, ingested and
// replayed in process; every failure is a typed error naming a place, never a crash.
// `npm run fuzz` runs the same engine over 10^6.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCorpus, rng, runBatch, tempDir } from '../bench/fuzz-core.js';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fuzz', () => {
  it('ingest + replay of 10^4 mutated real traces: no crash, every failure typed and located', async () => {
    const corpus = loadCorpus();
    expect(corpus.length).toBeGreaterThan(30);
    const seed = Number(process.env.FUZZ_SEED ?? 20261206);
    const r = rng(seed);
    const crashes: string[] = [];
    let traces = 0;
    // Windows of 10 to 40 lines, 1000 to a batch file, to stay within the suite's time.
    for (let b = 0; b < 10; b++) {
      const res = await runBatch(corpus, 1000, r, dir, { minLines: 10, maxLines: 40, huge: 1 / 500 });
      traces += res.traces;
      if (res.error && !res.typed) crashes.push(`seed ${seed} batch ${b}: ${res.error.stack?.split('\n').slice(0, 3).join(' | ')}`);
    }
    expect(traces).toBe(10_000);
    expect(crashes).toEqual([]);
  }, 240_000);
});
