// Replay fidelity on the real host captures: the reconstructed page tables agree with the
// kernel's own /proc/PID/pagemap at every checkpoint, and with every rss_stat the model can check.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { pageTableAt } from '../src/analysis/state.js';
import { replay } from '../src/replay/replay.js';
import { find, HOST, hostCaptures, ingestTemp, tmpDir } from './helpers.js';

// The captures start mid-life; the recorded set (traces/host/recorded) holds each process's whole life.
const captures = [
  ...hostCaptures().filter((d) => path.basename(d) !== 'stress'),
  ...hostCaptures('recorded'),
];

describe.each(captures.map((d) => [path.relative(path.join(d, '../..'), d), d]))(
  'replay of %s',
  (_name, dir) => {
    it('matches pagemap at every checkpoint, every checkable rss_stat, and breaks no invariant', async () => {
      const { db: ing, dbFile } = await ingestTemp([find(dir, 'trace.txt')!]);
      ing.close();
      const [run] = await replay(dbFile, { kernel: '6.18' });
      expect(run.events).toBeGreaterThan(50);
      const db = await Db.open(dbFile);
      const [pm] = await db.rows<{
        pages: bigint;
        present_ok: bigint;
        observed: bigint;
        pfn_ok: bigint;
      }>(
        `SELECT count(*) pages, count(*) FILTER (present_match) present_ok,
              count(*) FILTER (confidence = 'observed' AND kernel_state = 'present') observed, count(*) FILTER (pfn_match) pfn_ok
       FROM pagemap_check`,
      );
      expect(pm.pages).toBeGreaterThan(0n);
      expect(pm.present_ok).toBe(pm.pages);
      expect(pm.pfn_ok).toBe(pm.observed);
      expect(pm.observed).toBeGreaterThan(0n);
      const bad = await db.rows(
        `SELECT event_id, mm, member, kernel_value, model_value, note FROM rss_check WHERE NOT match LIMIT 5`,
      );
      expect(bad).toEqual([]);
      const [{ checked }] = await db.rows<{ checked: bigint }>(
        `SELECT count(*) checked FROM rss_check WHERE match`,
      );
      expect(checked).toBeGreaterThan(0n);
      // Page-table pages each fault allocated: the model's radix tree agrees wherever it can know.
      expect(
        await db.rows(
          `SELECT event_id, kernel_tables, model_tables FROM pgtable_check WHERE NOT match LIMIT 5`,
        ),
      ).toEqual([]);
      const [pt] = await db.rows<{ allocating: bigint }>(
        `SELECT count(*) allocating FROM pgtable_check WHERE match AND kernel_tables > 0`,
      );
      // A recorded process's whole life is in the trace: its heap's first tables at least are checked.
      if (dir.includes('/recorded/')) expect(pt.allocating).toBeGreaterThan(0n);
      // fork_cow.no-kfault was recorded without page_fault_kernel: a kernel-mode write's COW break
      // (put_user) shows only as the child freeing the shared page, which the model replays and labels.
      const untraced =
        path.basename(dir) === 'fork_cow.no-kfault'
          ? [{ rule: 'freed_page_still_mapped', label: 'untraced' }]
          : [];
      expect(await db.rows(`SELECT rule, label FROM invariant_violations LIMIT 5`)).toEqual(
        untraced,
      );
      // `mmreplay state` at the last checkpoint shows exactly the pages pagemap showed present.
      const [ck] = await db.rows<{ ts: bigint; pid: number; lo: bigint; hi: bigint }>(
        `SELECT ts, pid, min(va) lo, max(va) + 4096 hi FROM pagemap_check GROUP BY ts, pid ORDER BY ts DESC LIMIT 1`,
      );
      const present = await db.rows<{ va: bigint }>(
        `SELECT va FROM pagemap_check WHERE ts = ${ck.ts} AND pid = ${ck.pid} AND kernel_state = 'present' ORDER BY va`,
      );
      const { rows } = await pageTableAt(db, ck.pid, ck.ts, [ck.lo, ck.hi]);
      expect(rows.filter((r) => r.kind === 'present').map((r) => BigInt(r.va))).toEqual(
        present.map((p) => p.va),
      );
      db.close();
    });
  },
);

describe('replay input order', () => {
  const trace = find(path.join(HOST, 'threads'), 'trace.txt');
  it.runIf(trace)('puts events a trace prints out of time order back in order', async () => {
    // Swap neighbouring events now and then, as per-CPU buffers merged out of order would be.
    const lines = fs.readFileSync(trace!, 'utf8').split('\n');
    const ts = (l: string) => Number(/\s(\d+\.\d+): /.exec(l)?.[1]);
    let swapped = 0;
    for (let i = 0; i + 1 < lines.length; i += 5) {
      if (ts(lines[i]) < ts(lines[i + 1])) {
        [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
        swapped++;
      }
    }
    expect(swapped).toBeGreaterThan(50);
    const shuffled = path.join(tmpDir(), 'trace.txt');
    fs.writeFileSync(shuffled, lines.join('\n'));
    const state = async (file: string) => {
      const { db: ing, dbFile, warnings } = await ingestTemp([file]);
      ing.close();
      await replay(dbFile, { kernel: '6.18' });
      const db = await Db.open(dbFile);
      // Event ids follow the file's line order; everything else must not depend on it.
      const out = {
        warnings: warnings.filter((w) => /timestamps go backwards/.test(w)).length,
        rss: await db.rows(
          `SELECT ts, mm, member, kernel_value, model_value, match, note FROM rss_check ORDER BY ALL`,
        ),
        pagemap: await db.rows(`SELECT * EXCLUDE (event_id) FROM pagemap_check ORDER BY ALL`),
        ptes: await db.rows(`SELECT * EXCLUDE (source_event) FROM pte_intervals ORDER BY ALL`),
        folios: await db.rows(`SELECT * EXCLUDE (source_event) FROM folio_intervals ORDER BY ALL`),
        vmas: await db.rows(`SELECT * FROM vma_intervals ORDER BY ALL`),
      };
      db.close();
      return out;
    };
    const [sorted, shuffledState] = [await state(trace!), await state(shuffled)];
    expect(sorted.warnings).toBe(0);
    expect(shuffledState.warnings).toBe(1);
    expect(sorted.rss.length).toBeGreaterThan(0);
    expect({ ...shuffledState, warnings: 0 }).toEqual({ ...sorted, warnings: 0 });
  });
});
