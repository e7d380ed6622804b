// GUP plans are read alongside the events (src/replay/gup-plans.ts): each batch gets the plans of
// the GUPs that begin in it, whole, while the planner holds only the calls in flight.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorPlan, GupPlanner } from '../src/replay/gup-plans.js';
import { EventReader } from '../src/replay/event_reader.js';
import { eventBatch, planInput } from '../src/replay/input.js';
import { bindProbes, roleSql } from '../src/replay/probes.js';
import type { GupPlan } from '../src/replay/device_exclusive.js';
import { ingestTemp, ROOT } from './helpers.js';

describe('GUP plans', () => {
  it('race-dontneed (6.12): each GUP plan comes with the batch it begins in, read to its return, while the planner holds only the calls in flight', async () => {
    const { db } = await ingestTemp([
      path.join(ROOT, 'traces/lab/6.12/race-dontneed/trace.txt.xz'),
    ]);
    try {
      await db.run('SET threads = 1; SET preserve_insertion_order = true');
      const [{ f }] = await db.rows<{ f: number }>('SELECT file_id AS f FROM files');
      const { bound } = await bindProbes(db, f, '6.12', 64);
      const plan = (await planInput(db, f, { probes: bound }))!;
      const anchors = anchorPlan(plan, bound)!;
      const reader = await EventReader.open(db.instance, plan);
      const planner = await GupPlanner.open(db.instance, anchors);
      // Small batches: a GUP's anchors run past the batch it begins in.
      const batch = eventBatch(128);
      const got = new Map<number, GupPlan>();
      let held = 0;
      for (;;) {
        await reader.next(batch);
        if (!batch.n) break;
        const ids = new Set(Array.from(batch.id.subarray(0, batch.n), Number));
        for (const [id, p] of await planner.through(batch)) {
          expect(ids.has(id)).toBe(true);
          got.set(id, p);
        }
        const inner = planner as unknown as { open: Map<number, unknown>; pending: unknown[] };
        held = Math.max(held, inner.open.size + inner.pending.length);
      }
      await reader.close();
      await planner.close();
      // Every GUP inside a call, and each plan ends (the return probe is traced).
      const gup = roleSql(bound, 'kprobe:get_user_pages_remote', f)!;
      const [{ n }] = await db.rows<{ n: bigint }>(`SELECT count(*) AS n FROM (${gup})`);
      expect(got.size).toBeGreaterThan(50);
      expect(BigInt(got.size)).toBeLessThanOrEqual(n);
      for (const p of got.values()) expect(p.end).not.toBeNull();
      expect([...got.values()].some((p) => p.faults.length > 0)).toBe(true);
      // The race program's two threads: their current calls, not the trace's.
      expect(held).toBeLessThanOrEqual(4);
    } finally {
      db.close();
    }
  });
});
