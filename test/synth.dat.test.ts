// `mmreplay synth` as a trace-cmd `.dat`: it ingests to the rows of the same run's tracefs text and
// replays to the ground truth exactly; trace-cmd report reads it without a warning, and its text
// ingests to the tracefs text's rows too. Differences left out of the comparisons, all in how a
// printer shows a probe, none in a field's value:
// - `func`, `caller`: tracefs prints a probe's place as symbols (`[unknown/kretprobe'd]` for the
//   rethook trampoline), trace-cmd report as addresses, the .dat reader names them by kallsyms;
// - `rmap_one` (a kprobe `:symbol` argument): `name+0x0/0x1eb` in tracefs, `name+0x0` in trace-cmd
//   report, the address from the .dat;
// - a pointer printed as a symbol (ftrace print's `ip`) is the address from the .dat only, and
//   `__probe_*` fields exist only there;
// - trace-cmd report (libtraceevent, 3.1.6) prints a kprobe array argument (`pages=+0($arg4):x64[64]`,
//   `u64 pages[]`) as all 0x0, on the lab's own .dat files as well: that column is left out of
//   report's comparison (our reader's values equal the text's).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { replay } from '../src/replay/replay.js';
import { Db } from '../src/store/db.js';
import { compareTruth } from '../src/synth/compare.js';
import { synthesize, type SynthOptions } from '../src/synth/generate.js';
import { SYNTH_EVENTS } from '../src/synth/lines.js';
import { parseRates, SCENARIOS } from '../src/synth/scenario.js';
import { eventDifferences, ingestTemp, tmpDir, traceCmd, typedDifferences } from './helpers.js';

const dir = tmpDir('mmreplay-synth-dat-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Tracefs text's header lines (`# tracer: nop` ...), before its first event. */
const TEXT_HEADER = 10;

/** A scenario with racers `rates` (`--rate` syntax) on top of its own. */
function run(name: string, rates: string[], events: number, seed = 4): Omit<SynthOptions, 'out'> {
  const sc = SCENARIOS[name];
  return {
    scenario: { ...sc, racers: parseRates(rates, sc.racers) },
    seed,
    events,
    cpus: 2,
    design: '5.14',
  };
}

/** The same run written as tracefs text and as a .dat. */
function both(o: Omit<SynthOptions, 'out'>, name: string): { text: string; dat: string } {
  const text = path.join(dir, `${name}.txt`);
  const dat = path.join(dir, `${name}.dat`);
  synthesize({ ...o, out: text });
  synthesize({ ...o, out: dat });
  return { text, dat };
}

const nonZero = (d: Record<string, number>) => Object.entries(d).filter(([, n]) => n);

describe('synth --format dat', () => {
  it('ingests to the text trace rows and replays to the ground truth exactly', async () => {
    const { text, dat } = both(run('dontneed', ['uffd_wp=lab'], 10_000), 'wp');
    // Each in its own database: a text kprobe table (typed from the text) and a .dat one (from
    // its format file) do not share one.
    const t = await ingestTemp([text]);
    const d = await ingestTemp([dat]);
    t.db.close();
    expect(d.files[0]).toMatchObject({
      format: 'trace-cmd-dat',
      unparsed: 0,
      lost: 0,
      events: t.files[0].events,
    });
    expect(d.files[0].metadata).toMatchObject({
      file_version: 6,
      clock: 'local',
      cpus: 2,
      kernel_release: '6.12.118',
    });
    await d.db.run(`ATTACH '${t.dbFile}' AS t (READ_ONLY)`);
    // Event for event in the same order (line_no counts the text's header), to the µs.
    expect(
      await eventDifferences(d.db, TEXT_HEADER, 'a.ts_ns // 1000', 'b.ts_ns // 1000', true, 0, 't'),
    ).toBe(0);
    const skip = (_t: string, c: string) => c === 'caller' || c === 'rmap_one';
    expect(
      nonZero(await typedDifferences(d.db, skip, 'e.ts_ns // 1000', 'e.ts_ns // 1000', 't')),
    ).toEqual([]);
    d.db.close();
    for (const [file, dbFile] of [
      [dat, d.dbFile],
      [text, t.dbFile],
    ]) {
      await replay(dbFile, { designs: ['5.14'] });
      const db = await Db.open(dbFile);
      try {
        const c = await compareTruth(db, file, 0);
        expect(c.mismatches).toEqual([]);
        expect(c.explained).toEqual([]);
        expect(c.pages).toBeGreaterThan(100);
        const [{ v }] = await db.rows<{ v: bigint }>(
          `SELECT count(*) AS v FROM invariant_violations`,
        );
        expect(v).toBe(0n);
      } finally {
        db.close();
      }
    }
  }, 300_000);

  it.skipIf(!traceCmd)(
    'trace-cmd report reads every event kind without a warning, and its text ingests to the text trace rows',
    async () => {
      const runs: [string, string[]][] = [
        ['dontneed', ['uffd_wp=lab']],
        ['mprotect', []],
        ['fork_write', ['dontneed=lab']],
        ['migrate', []],
        ['pageout', []],
        ['ksm', ['ksm=200000']],
      ];
      const seen = new Set<string>();
      for (const [name, rates] of runs) {
        const { text, dat } = both(run(name, rates, 6_000), `r-${name}`);
        const r = spawnSync('trace-cmd', ['report', '-i', dat], { maxBuffer: 1 << 28 });
        expect(r.status, name).toBe(0);
        expect(r.stderr.toString(), name).toBe('');
        const report = path.join(dir, `r-${name}.report.txt`);
        fs.writeFileSync(report, r.stdout);
        const { db, files } = await ingestTemp([report, text]);
        try {
          expect(files[0], name).toMatchObject({
            format: 'trace-cmd',
            unparsed: 0,
            events: files[1].events,
          });
          // report prints `cpus=2` first and no flags column; timestamps in µs as the text's.
          expect(
            await eventDifferences(db, TEXT_HEADER - 1, 'a.ts_ns', 'b.ts_ns', false),
            name,
          ).toBe(0);
          const skip = (t: string, c: string) =>
            ['func', 'caller', 'rmap_one'].includes(c) ||
            (t === 'kprobes_mder_make_device_exclusive_range_ret' && c === 'pages');
          expect(nonZero(await typedDifferences(db, skip, 'e.ts_ns', 'e.ts_ns')), name).toEqual([]);
          for (const { e } of await db.rows<{ e: string }>(
            `SELECT DISTINCT event AS e FROM events WHERE file_id = 0`,
          ))
            seen.add(e);
        } finally {
          db.close();
        }
      }
      // Between them the runs write every event the generator has a format for.
      expect(SYNTH_EVENTS.filter((e) => !seen.has(e))).toEqual([]);
    },
    600_000,
  );
});

describe('one database, two sources of the same events', () => {
  it('a .dat and a text trace typed differently: the second file keeps those events whole in other_events, says so, and nothing lands in the wrong columns', async () => {
    const { text, dat } = both(run('dontneed', [], 3000), 'mixed');
    for (const files of [
      [dat, text],
      [text, dat],
    ]) {
      const { db, warnings } = await ingestTemp(files);
      try {
        expect(warnings.join('\n')).toMatch(
          /events whose fields differ from the typed table an earlier file made, kept (raw )?in other_events: kprobes:/,
        );
        // Every event of both files is an event row; the second file's kprobes are not typed.
        const [{ typed, other }] = await db.rows<{ typed: bigint; other: bigint }>(
          `SELECT (SELECT count(*) FROM kprobes_mder_folio_add_new_anon_rmap JOIN events USING (id) WHERE file_id = 1) AS typed,
                  (SELECT count(*) FROM other_events JOIN events USING (id) WHERE file_id = 1 AND other_events.event LIKE 'kprobes:%') AS other`,
        );
        expect(Number(typed)).toBe(0);
        expect(Number(other)).toBeGreaterThan(0);
      } finally {
        db.close();
      }
    }
  });
});
