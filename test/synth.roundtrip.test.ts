// A synthetic trace ingests with nothing unparsed and replays to exactly the generator's ground
// truth: every request's result and every page's outcome, cause, pinned PFN and culprit line.
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingest } from '../src/ingest/ingest.js';
import { replay } from '../src/replay/replay.js';
import { synthesize, type SynthOptions } from '../src/synth/generate.js';
import { LAB_RUNS } from '../src/synth/lab-costs.js';
import {
  checkRacers,
  SCENARIOS,
  type RacerKind,
  type Rate,
  type Scenario,
} from '../src/synth/scenario.js';
import { compareTruth } from '../src/synth/compare.js';
import { tmpDir } from './helpers.js';

/** Generates each trace, ingests them into one database, replays it once; returns it open. */
async function roundTrip(
  runs: Omit<SynthOptions, 'out'>[],
): Promise<{ db: Db; traces: string[]; dir: string }> {
  const dir = tmpDir('mmreplay-synth-');
  const traces = runs.map((r, i) => {
    const out = path.join(dir, `synth-${i}.txt`);
    synthesize({ ...r, out });
    return out;
  });
  const dbFile = path.join(dir, 'synth.duckdb');
  await ingest(traces, { db: dbFile });
  await replay(dbFile, { designs: ['5.14'] });
  return { db: await Db.open(dbFile), traces, dir };
}

describe('synth round trip', () => {
  it('replays a DONTNEED race to its ground truth exactly', async () => {
    const { db, traces } = await roundTrip([
      { scenario: SCENARIOS.dontneed, seed: 5, events: 20_000, cpus: 2, design: '5.14' },
    ]);
    try {
      const [f] = await db.rows<{ unparsed: bigint; events: bigint }>(
        `SELECT unparsed, events FROM files`,
      );
      expect(f.unparsed).toBe(0n);
      expect(Number(f.events)).toBeGreaterThanOrEqual(20_000);
      const c = await compareTruth(db, traces[0], 0);
      expect(c.mismatches).toEqual([]);
      // The trace exercises what the comparison checks: replaced pages with their culprits, and
      // requests ending in 0, -EBUSY and -ENOENT.
      const [t] = await db.rows<{
        replaced: bigint;
        culprits: bigint;
        ok: bigint;
        ebusy: bigint;
        enoent: bigint;
      }>(
        `SELECT (SELECT count(*) FROM truth_pages WHERE cause = 'replaced') AS replaced,
                (SELECT count(DISTINCT culprit_line) FROM truth_pages) AS culprits,
                count(*) FILTER (result = 0) AS ok, count(*) FILTER (result = -16) AS ebusy, count(*) FILTER (result = -2) AS enoent
         FROM truth_requests`,
      );
      expect(Number(t.replaced)).toBeGreaterThan(5);
      expect(Number(t.culprits)).toBeGreaterThan(2);
      expect(t.ok * t.ebusy * t.enoent).toBeGreaterThan(0n);
      expect(c.requests).toBeGreaterThan(20);
      // The comparison sees a difference: one page's truth changed is one mismatch.
      await db.run(
        `UPDATE truth_pages SET cause = 'write_protected' WHERE rowid = (SELECT min(rowid) FROM truth_pages WHERE cause = 'replaced')`,
      );
      const [{ n }] = await db.rows<{ n: bigint }>(
        `SELECT count(*) AS n FROM truth_pages t JOIN exclusive_pages p ON p.call_id = t.call_id AND p.idx = t.idx AND p.design = '5.14' WHERE p.cause <> t.cause`,
      );
      expect(n).toBe(1n);
      const [{ v }] = await db.rows<{ v: bigint }>(
        `SELECT count(*) AS v FROM invariant_violations`,
      );
      expect(v).toBe(0n);
    } finally {
      db.close();
    }
  });

  it('replays random scenarios and seeds to their ground truth (property)', async () => {
    const arb = fc.record({
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      cpus: fc.integer({ min: 1, max: 3 }),
      sizes: fc.uniqueArray(fc.constantFrom(1, 3, 16, 64, 65, 130, 300), {
        minLength: 1,
        maxLength: 4,
      }),
      racers: fc
        .array(
          fc.record({
            kind: fc.constantFrom<RacerKind>('dontneed', 'uffd_wp', 'mprotect'),
            rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 50, max: 20_000 })),
          }),
          { minLength: 0, maxLength: 3 },
        )
        .filter((r) => {
          try {
            checkRacers(r);
            return true;
          } catch {
            return false;
          }
        }),
    });
    const cases = fc.sample(arb, { seed: 14, numRuns: 4 });
    const runs = cases.map((c) => {
      const scenario: Scenario = {
        ...SCENARIOS.dontneed,
        name: 'property',
        sizes: c.sizes,
        racers: c.racers,
      };
      return { scenario, seed: c.seed, events: 8_000, cpus: c.cpus, design: '5.14' as const };
    });
    // And race.c's uffd_wp and mprotect modes, on seeds whose requests meet write-protected pages
    // and read-only VMAs.
    runs.push({
      scenario: { ...SCENARIOS.uffd_wp, sizes: [64, 256] },
      seed: 2,
      events: 8_000,
      cpus: 2,
      design: '5.14',
    });
    runs.push({
      scenario: { ...SCENARIOS.mprotect, sizes: [64, 256] },
      seed: 6,
      events: 12_000,
      cpus: 2,
      design: '5.14',
    });
    const { db, traces } = await roundTrip(runs);
    try {
      const causes = new Set<string>();
      for (const [i, trace] of traces.entries()) {
        const c = await compareTruth(db, trace, i);
        expect({
          case: cases[i] ?? runs[i].scenario.name,
          mismatches: c.mismatches.slice(0, 5),
        }).toEqual({
          case: cases[i] ?? runs[i].scenario.name,
          mismatches: [],
        });
        expect(c.requests).toBeGreaterThan(0);
        for (const r of await db.rows<{ cause: string }>(`SELECT DISTINCT cause FROM truth_pages`))
          causes.add(r.cause);
      }
      // The cases reach every cause these racers make.
      expect([...causes].sort()).toEqual(['exclusive', 'gup_short', 'replaced', 'write_protected']);
    } finally {
      db.close();
    }
  });
});

/**
 * The racers of issue 14's second round, each over random scenarios and seeds (fast-check): a
 * fork (race.c fork_exit, fork_write), move_pages, MADV_PAGEOUT, ksmd, at random rates, thread
 * counts and CPUs, with or without a DONTNEED racer beside it, and race.c's own mode. Every
 * request and page replays to the truth, except where the truth names a known gap of the replay
 * (`gaps`: a folio lock it cannot see, a MADV_PAGEOUT it applies at once); those are counted.
 */
describe('synth round trip: fork, migration, reclaim and KSM racers', () => {
  const racers: {
    kind: RacerKind;
    rate: fc.Arbitrary<Rate>;
    threads: number;
    /** The gaps the truth may name for this racer. */
    gaps: string[];
    /** race.c's mode, on a seed and calibration whose requests meet the racer. */
    lab: Omit<SynthOptions, 'out'>;
    /** What the cases must reach between them. */
    reach: (t: { causes: Set<string>; results: Set<number>; ksmMerges: number }) => void;
  }[] = [
    {
      kind: 'fork_exit',
      rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 20, max: 300 })),
      threads: 1,
      gaps: [],
      lab: { scenario: SCENARIOS.fork_exit, seed: 3, events: 25_000, cpus: 2, design: '5.14' },
      // A fork between the driver's unlock and its read erases the mirror: -ENOENT.
      reach: (t) => expect(t.results.has(-2)).toBe(true),
    },
    {
      kind: 'fork_write',
      rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 20, max: 300 })),
      threads: 1,
      gaps: [],
      lab: { scenario: SCENARIOS.fork_write, seed: 4, events: 25_000, cpus: 2, design: '5.14' },
      reach: (t) => expect(t.results.has(-2)).toBe(true),
    },
    {
      kind: 'migrate',
      rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 200, max: 5000 })),
      threads: 2,
      gaps: ['migration_window'],
      lab: { scenario: SCENARIOS.migrate, seed: 3, events: 20_000, cpus: 2, design: '5.14' },
      // The walk's folio_trylock fails while a migration holds the folio.
      reach: (t) => expect(t.causes.has('trylock_failed')).toBe(true),
    },
    {
      kind: 'pageout',
      rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 50, max: 2000 })),
      threads: 3,
      gaps: ['pageout_batch', 'reclaim_lock'],
      lab: {
        scenario: {
          ...SCENARIOS.pageout,
          sizes: [64, 256],
          racers: [
            { kind: 'pageout', rate: 'lab' },
            { kind: 'pageout', rate: 'lab' },
          ],
        },
        seed: 3,
        events: 25_000,
        cpus: 3,
        design: '5.14',
        calibration: LAB_RUNS['6.12-r2'],
      },
      // The PTE becomes a swap entry while GUP holds the page: replaced, MADV_PAGEOUT the culprit.
      reach: (t) => expect(t.causes.has('replaced')).toBe(true),
    },
    {
      kind: 'ksm',
      rate: fc.oneof(fc.constant<'lab'>('lab'), fc.integer({ min: 5000, max: 100_000 })),
      threads: 1,
      gaps: ['ksm_lock', 'ksm_merge'],
      lab: { scenario: SCENARIOS.ksm, seed: 3, events: 20_000, cpus: 2, design: '5.14' },
      // ksmd merged pages the requests then found read-only (GUP breaks the KSM sharing).
      reach: (t) => expect(t.ksmMerges).toBeGreaterThan(0),
    },
  ];
  for (const r of racers) {
    it(`replays random ${r.kind} scenarios and seeds to their ground truth (property)`, async () => {
      const arb = fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        cpus: fc.integer({ min: 1, max: 3 }),
        sizes: fc.uniqueArray(fc.constantFrom(1, 16, 64, 65, 130, 256), {
          minLength: 1,
          maxLength: 3,
        }),
        rate: r.rate,
        threads: fc.integer({ min: 1, max: r.threads }),
        dontneed: fc.oneof(
          fc.constant(0),
          fc.constant<'lab'>('lab'),
          fc.integer({ min: 100, max: 5000 }),
        ),
      });
      const cases = fc.sample(arb, { seed: 14, numRuns: 3 });
      const runs: Omit<SynthOptions, 'out'>[] = cases.map((c) => {
        const racers: Scenario['racers'] = Array.from({ length: c.threads }, () => ({
          kind: r.kind,
          rate: c.rate,
        }));
        if (c.dontneed) racers.push({ kind: 'dontneed', rate: c.dontneed });
        checkRacers(racers);
        return {
          scenario: { ...SCENARIOS[r.kind], name: 'property', sizes: c.sizes, racers },
          seed: c.seed,
          events: 15_000,
          cpus: c.cpus,
          design: '5.14',
        };
      });
      runs.push(r.lab);
      const { db, traces } = await roundTrip(runs);
      try {
        const causes = new Set<string>();
        const results = new Set<number>();
        for (const [i, trace] of traces.entries()) {
          const c = await compareTruth(db, trace, i);
          const label = cases[i] ?? r.lab.scenario.name;
          expect({ case: label, mismatches: c.mismatches.slice(0, 5) }).toEqual({
            case: label,
            mismatches: [],
          });
          expect(c.explained.filter((m) => !r.gaps.includes(m.gap!))).toEqual([]);
          expect(c.requests).toBeGreaterThan(0);
          for (const x of await db.rows<{ cause: string }>(
            `SELECT DISTINCT cause FROM truth_pages`,
          ))
            causes.add(x.cause);
          for (const x of await db.rows<{ result: number }>(
            `SELECT DISTINCT result FROM truth_requests`,
          ))
            results.add(Number(x.result));
        }
        const [{ n }] = await db
          .rows<{ n: bigint }>(
            `SELECT count(*) AS n FROM events JOIN ksm_ksm_merge_with_ksm_page USING (id) WHERE err = 0`,
          )
          .catch(() => [{ n: 0n }]);
        r.reach({ causes, results, ksmMerges: Number(n) });
        const [{ v }] = await db.rows<{ v: bigint }>(
          `SELECT count(*) AS v FROM invariant_violations`,
        );
        expect(v).toBe(0n);
      } finally {
        db.close();
      }
    });
  }
});
