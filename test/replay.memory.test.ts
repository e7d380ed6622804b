// Replay memory follows live state, not trace length: what the model still holds once a trace is
// replayed is what live processes can reach.
import { describe, expect, it } from 'vitest';
import type { Adapter } from '../src/replay/adapter.js';
import type { Model } from '../src/replay/model.js';
import { replay } from '../src/replay/replay.js';
import type { Folio } from '../src/replay/types.js';
import { find, HOST, ingestTemp } from './helpers.js';
import path from 'node:path';

describe('replay retention', () => {
  it('holds no folio that only processes gone or files no longer mapped could reach (stress capture)', async () => {
    const { db, dbFile } = await ingestTemp([find(path.join(HOST, 'stress'), 'trace.txt')!]);
    db.close();
    let state: { m: Model; a: Adapter } | null = null;
    const [run] = await replay(dbFile, { kernel: '6.18', inspect: (m, a) => (state = { m, a }) });
    expect(run.events).toBeGreaterThan(250_000);
    const { m, a } = state!;
    const reachable = new Set<Folio>([m.zeroFolio]);
    for (const mm of m.mms) {
      if (mm.dead) continue;
      for (const p of mm.ptes.values()) if (p.folio) reachable.add(p.folio);
      for (const v of mm.vmas) if (v.file !== null) for (const f of a.cache.pages(v.file)) reachable.add(f);
    }
    for (const s of m.swapSlots.values()) if (s.folio) reachable.add(s.folio);
    const held = [...m.folios.values()].filter((f) => !reachable.has(f));
    expect(held.map((f) => ({ id: f.id, anon: f.anon, refcount: f.refcount, mapcount: f.mapcount })).slice(0, 5)).toEqual([]);
    // The capture's processes map files (and exit): their page cache goes with their last VMA.
    expect(a.cache.size).toBeLessThan(100);
    expect(m.byPfn.size).toBeLessThanOrEqual(m.folios.size);
  });
});
