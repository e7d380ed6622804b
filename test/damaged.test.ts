// Damaged real traces replay to the end: a last line cut inside an MMREPLAY_CKPT marker and an
// rss_stat member the model does not know are skipped, counted and located, not crashes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingestDb } from '../src/ingest/ingest.js';
import { replayDb } from '../src/replay/replay.js';
import { HOST, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const lines = fs
  .readFileSync(path.join(HOST, 'recorded/fork_cow/trace.txt'), 'utf8')
  .split('\n')
  .filter(Boolean);

async function run(name: string, text: string) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  const db = await Db.open(':memory:');
  try {
    await ingestDb(db, [file], {});
    const [r] = await replayDb(db, {});
    const ckpts = await db.rows<{ n: bigint }>(
      'SELECT count(DISTINCT event_id) AS n FROM pagemap_check',
    );
    return { ...r, checkpoints: Number(ckpts[0].n), file };
  } finally {
    db.close();
  }
}

describe('damaged traces', () => {
  it('a last line cut inside an MMREPLAY_CKPT marker is skipped and located', async () => {
    const last = lines.map((l) => l.includes('MMREPLAY_CKPT')).lastIndexOf(true);
    const cut = lines[last].slice(0, lines[last].indexOf(' start=') + 4);
    const r = await run('cut-ckpt.txt', [...lines.slice(0, last), cut].join('\n'));
    expect(r.skipped).toBe(1);
    expect(r.firstSkipped).toMatch(
      new RegExp(`cut-ckpt\\.txt:${last + 1}: MMREPLAY_CKPT marker without pid, start or pages`),
    );
    const whole = lines.filter((l) => l.includes('MMREPLAY_CKPT')).length;
    expect(r.checkpoints).toBe(whole - 1);
  });

  it('an rss_stat member the model does not know (a name, or the number the kernel prints) is skipped and located', async () => {
    const i = lines.findIndex((l) => /rss_stat: .*type=MM_ANONPAGES/.test(l));
    for (const other of ['MM_NEWPAGES', '0x4']) {
      const damaged = [...lines];
      damaged[i] = damaged[i].replace('type=MM_ANONPAGES', `type=${other}`);
      const r = await run(`rss-${other}.txt`, damaged.join('\n') + '\n');
      // Every event the model reads, mmap_lock_released among them (test_hmm's final read follows it).
      expect(r.events).toBe(1055);
      expect(r.skipped).toBe(1);
      expect(r.firstSkipped).toMatch(
        new RegExp(`rss-${other}\\.txt:${i + 1}: rss_stat member .* is not one the model counts`),
      );
    }
  });

  // Found by `npm run fuzz` (seed 20261206, batch 372): a file mmap whose len became 2^64 - 1 ran
  // the replay out of a 4 GB heap.
  it('an mmap, munmap or mprotect of a range past the top of user space is skipped and located, not an endless VMA', async () => {
    const at = lines.findIndex((l) => /sys_mmap\(addr: 0x[0-9a-f]+, len: 0x/.test(l));
    expect(at).toBeGreaterThan(0);
    const damaged = lines.map((l, i) =>
      i === at ? l.replace(/len: 0x[0-9a-f]+/, 'len: 0xffffffffffffffff') : l,
    );
    const r = await run('huge-mmap.txt', damaged.join('\n') + '\n');
    expect(r.skipped).toBe(1);
    expect(r.firstSkipped).toMatch(
      new RegExp(`huge-mmap\\.txt:${at + 1}: mmap of a range past the top of user space`),
    );
    expect(r.checkpoints).toBe(lines.filter((l) => l.includes('MMREPLAY_CKPT')).length);
  }, 120_000);

  it("a NUL byte inside an allocation's gfp_flags does not break the replay (no ENUM member can hold it)", async () => {
    const at =
      lines.length -
      1 -
      [...lines]
        .reverse()
        .findIndex((l) => /mm_page_alloc: .*gfp_flags=GFP_HIGHUSER_MOVABLE/.test(l));
    expect(at).toBeLessThan(lines.length);
    expect(at).toBeGreaterThan(0);
    const damaged = lines.map((l, i) =>
      i === at ? l.replace('gfp_flags=GFP_HIGHUSER', 'gfp_flags=GFP_HIGH\0USER') : l,
    );
    const r = await run('nul-gfp.txt', damaged.join('\n') + '\n');
    expect(r.checkpoints).toBe(lines.filter((l) => l.includes('MMREPLAY_CKPT')).length);
  }, 120_000);
});
