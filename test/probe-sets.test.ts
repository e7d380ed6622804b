// The 6.12-r2 lab record: each run traced at once into two tracefs instances with two probe sets,
// ours (A: `kprobes/mder_*`, $argN, format files) and one written the way perf probe writes them
// (B: `probe/<function>`, `__return`, registers, fewer fields, no format files, addresses only in
// its trace-cmd report). Both must give the same verdict for every request, and the kernel's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { ingest } from '../src/ingest/ingest.js';
import { replay } from '../src/replay/replay.js';
import { bindProbes } from '../src/replay/probes.js';
import { ingestTemp, ROOT, tmpDir } from './helpers.js';

const R2 = path.join(ROOT, 'traces/lab/6.12-r2');

/** Rows of a query over a trace ingested and replayed on its own. */
async function replayed<T>(trace: string, sql: string): Promise<T[]> {
  const { db, dbFile } = await ingestTemp([trace]);
  db.close();
  await replay(dbFile);
  const d = await Db.open(dbFile);
  try {
    return await d.rows<T>(sql);
  } finally {
    d.close();
  }
}

const verdicts = (trace: string) =>
  replayed<{ tid: number; start_va: bigint; npages: number; predicted_result: number }>(
    trace,
    `SELECT tid, start_va, npages, predicted_result FROM exclusive_requests ORDER BY ts`,
  );

/** A copy of a trace in an empty directory: no definitions, format files or kallsyms beside it. */
function alone(file: string): string {
  const copy = path.join(tmpDir(), path.basename(file));
  fs.copyFileSync(file, copy);
  return copy;
}

/**
 * The kernel's results per request key (tid:addr:npages), in call order, from the race program's
 * RACE_CALL lines (ret, or -errno): a thread can ask for the same range twice.
 */
function kernel(log: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const m = /^RACE_CALL .*tid=(\d+) addr=0x([0-9a-f]+) npages=(\d+) ret=(-?\d+) errno=(\d+)/.exec(
      line,
    );
    if (!m) continue;
    const key = `${m[1]}:${BigInt('0x' + m[2])}:${m[3]}`;
    if (!out.has(key)) out.set(key, []);
    out.get(key)!.push(Number(m[4]) < 0 ? -Number(m[5]) : Number(m[4]));
  }
  return out;
}

/** How many of the replay's verdicts (in request order) are the kernel's. */
function agreeing(
  v: { tid: number; start_va: bigint; npages: number; predicted_result: number }[],
  run: string,
  log = path.join(R2, run, 'A/stdout.log'),
): number {
  const k = kernel(log);
  return v.filter(
    (r) => k.get(`${r.tid}:${r.start_va}:${r.npages}`)?.shift() === r.predicted_result,
  ).length;
}

describe('two probe sets, one run (6.12-r2)', () => {
  it(
    "race-uffd_wp: set B (perf-probe style, no format files) gives every request the verdict set A gives, and the kernel's for all 80 (userfaultfd write-protection inside the window)",
    { timeout: 300_000 },
    async () => {
      const a = await verdicts(path.join(R2, 'race-uffd_wp/A/trace.txt.xz'));
      const b = await verdicts(path.join(R2, 'race-uffd_wp/B/trace.txt.xz'));
      expect(a.length).toBe(80);
      expect(b).toEqual(a);
      expect(agreeing(a, 'race-uffd_wp')).toBe(80);
      // The write-protections fail requests: without the uffd model every one of them succeeded.
      expect(a.filter((r) => r.predicted_result !== 0).length).toBeGreaterThan(20);
    },
  );

  it(
    "race-two_req: two devices' requests overlap; both sets give the kernel's verdict for at least 125 of 126 (GUP sleeps on the other call's folio lock and restores its entries when it wakes)",
    { timeout: 300_000 },
    async () => {
      for (const set of ['A', 'B']) {
        const v = await verdicts(path.join(R2, `race-two_req/${set}/trace.txt.xz`));
        expect(v.length).toBe(126);
        expect(agreeing(v, 'race-two_req'), `set ${set}`).toBeGreaterThanOrEqual(125);
      }
    },
  );

  it(
    "race-dontneed, probe set C (6.12-r3, written without reading the model: its own names, registers, handle_mm_fault, sched_process_fork and no task_newtask): the kernel's verdict for all 80",
    { timeout: 300_000 },
    async () => {
      const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-dontneed/C');
      const v = await verdicts(path.join(dir, 'trace.txt.xz'));
      expect(v.length).toBe(80);
      // The racer thread's zaps land in the process's mm only if its fork is read from sched_process_fork.
      expect(v.filter((r) => r.predicted_result !== 0).length).toBeGreaterThan(10);
      expect(agreeing(v, 'race-dontneed', path.join(dir, 'stdout.log'))).toBe(80);
      // Alone (no kprobe_events, no format files) its args (lo, hi, va, fol, n) bind by their values.
      expect(await verdicts(alone(path.join(dir, 'trace.txt.xz')))).toEqual(v);
    },
  );

  it(
    "race-dontneed, probe set C alone, its kernel pointers moved as KASLR moves them (direct map, vmalloc and vmemmap bases): the vmemmap base is read off the trace, and every page's PFN and outcome are as without KASLR",
    { timeout: 300_000 },
    async () => {
      const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-dontneed/C');
      const text = execFileSync('xz', ['-dc', path.join(dir, 'trace.txt.xz')], {
        maxBuffer: 1 << 30,
      }).toString('utf8');
      // The lab boots with nokaslr: 0xffff888 (direct map), 0xffffc90 (vmalloc), 0xffffea0
      // (vmemmap). kernel_randomize_memory keeps their order and aligns each base to 1 GiB.
      const moved = text
        .replace(/ffff888([0-9a-f]{9})\b/g, 'ffff9a8$1')
        .replace(/ffffc90([0-9a-f]{9})\b/g, 'ffffb30$1')
        .replace(/ffffea0([0-9a-f]{9})\b/g, 'ffffd5c$1');
      expect(moved).not.toMatch(/ffffea0[0-9a-f]{9}\b/);
      const file = path.join(tmpDir(), 'trace.txt');
      fs.writeFileSync(file, moved);
      // Every page's PFN (from the folio pointers its walk printed) and outcome, as without KASLR.
      const pages = (trace: string) =>
        replayed<{ gup_pfn: bigint | null }>(
          trace,
          `SELECT call_id, idx, gup_pfn, outcome, cause FROM exclusive_pages ORDER BY ALL`,
        );
      const want = await pages(alone(path.join(dir, 'trace.txt.xz')));
      expect(want.filter((p) => p.gup_pfn !== null).length).toBeGreaterThan(1000);
      expect(await pages(file)).toEqual(want);
    },
  );

  it(
    "race-uffd_wp, probe set C: its tracefs text, its trace-cmd report (kprobes printed as addresses, named by the kprobe_events beside it) and its .dat give the same requests, the kernel's for all 80",
    { timeout: 400_000 },
    async () => {
      const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-uffd_wp/C');
      const text = await verdicts(path.join(dir, 'trace.txt.xz'));
      expect(agreeing(text, 'race-uffd_wp', path.join(dir, 'stdout.log'))).toBe(80);
      expect(await verdicts(path.join(dir, 'report.txt.xz'))).toEqual(text);
      expect(await verdicts(path.join(dir, 'trace.dat.xz'))).toEqual(text);
    },
  );

  it(
    "race-ksm, probe set C alone: the kernel's verdict for all 80 (ksmd holds a folio locked from try_to_merge_one_page to its folio_unlock, and a walk's trylock fails on it)",
    { timeout: 300_000 },
    async () => {
      const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-ksm/C');
      const v = await verdicts(alone(path.join(dir, 'trace.txt.xz')));
      expect(v.length).toBe(80);
      expect(agreeing(v, 'race-ksm', path.join(dir, 'stdout.log'))).toBe(80);
    },
  );

  it(
    "race-ksm and race-dontneed, probe set C's trace-cmd report alone (kprobes printed as addresses, nothing beside): the notifier, folio_unlock and try_to_merge_one_page are told by when they fire, and the kernel's verdict holds for all 160",
    { timeout: 400_000 },
    async () => {
      for (const run of ['race-ksm', 'race-dontneed']) {
        const dir = path.join(ROOT, 'traces/lab/6.12-r3', run, 'C');
        const report = alone(path.join(dir, 'report.txt.xz'));
        const dbFile = path.join(tmpDir(), 'probes.duckdb');
        await ingest([report], { db: dbFile });
        const db = await Db.open(dbFile);
        try {
          const { bound } = await bindProbes(db, 0, '6.12', 64);
          const func = (e: string) => bound.find((b) => b.event === e)?.func;
          expect(func('kprobes:notif_start')).toBe('__mmu_notifier_invalidate_range_start');
          expect(func('kprobes:pg_unlock')).toBe('folio_unlock');
          // __folio_lock's slow path takes the same folio only where a lock was contended.
          expect(func('kprobes:pg_lock_slow')).toBeUndefined();
          if (run === 'race-ksm') expect(func('kprobes:ksm_merge')).toBe('try_to_merge_one_page');
        } finally {
          db.close();
        }
        const v = await verdicts(report);
        expect(agreeing(v, run, path.join(dir, 'stdout.log'))).toBe(80);
      }
    },
  );

  it(
    "race-two_req, probe set C alone (no vmalloc probe: the final read is estimated after the caller's mmap_read_unlock, bounded by its vfree): the kernel's verdict for at least 141 of 143",
    { timeout: 300_000 },
    async () => {
      const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-two_req/C');
      const v = await verdicts(alone(path.join(dir, 'trace.txt.xz')));
      expect(v.length).toBe(143);
      expect(agreeing(v, 'race-two_req', path.join(dir, 'stdout.log'))).toBeGreaterThanOrEqual(141);
    },
  );

  it(
    "race-dontneed: set B's trace-cmd .dat, whose kallsyms was hidden, binds through the kallsyms.txt beside it, its text alone (no definitions, no symbols) by function name, and its report alone (addresses only) by perf probe's event names",
    { timeout: 300_000 },
    async () => {
      const a = await verdicts(path.join(R2, 'race-dontneed/A/trace.txt.xz'));
      const dat = await verdicts(path.join(R2, 'race-dontneed/B/trace.dat.xz'));
      expect(dat).toEqual(a);
      expect(await verdicts(alone(path.join(R2, 'race-dontneed/B/trace.txt.xz')))).toEqual(a);
      // Its trace-cmd report alone prints only addresses: perf probe's event names name the functions.
      const report = alone(path.join(R2, 'race-dontneed/B/report.txt.xz'));
      expect(await verdicts(report)).toEqual(a);
    },
  );
});

/**
 * A probe set with fewer probes, derived from a captured set C trace by dropping every line of the
 * named events (the capture itself is untouched): what a user who probes less would record.
 */
function without(file: string, events: string[]): string {
  const drop = new RegExp(` (${events.join('|')}): `);
  const text = execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 }).toString();
  const kept = text.split('\n').filter((l) => !drop.test(l));
  const out = path.join(tmpDir(), 'trace.txt');
  fs.writeFileSync(out, kept.join('\n'));
  return out;
}

describe('fewer probes (6.12-r3 set C, events dropped)', () => {
  const dir = path.join(ROOT, 'traces/lab/6.12-r3/race-dontneed/C');
  const log = path.join(dir, 'stdout.log');

  it(
    'race-dontneed without get_user_pages_remote probes: GUP runs from the call entry to its first walk, and every verdict is the one the full set gives',
    { timeout: 300_000 },
    async () => {
      const full = await verdicts(alone(path.join(dir, 'trace.txt.xz')));
      const v = await verdicts(without(path.join(dir, 'trace.txt.xz'), ['gup_in', 'gup_out']));
      expect(v).toEqual(full);
    },
  );

  it(
    "race-dontneed with only the call probes, syscalls and tracepoints: GUP pins at the call entry, the caller's TLB flushes time the walks, and most verdicts are still the kernel's",
    { timeout: 300_000 },
    async () => {
      const kprobes = ['gup_in', 'gup_out', 'walk_in', 'walk_out', 'excl_vma', 'excl_vma_done'];
      const more = ['pg_unlock', 'pg_lock_slow', 'flt_enter', 'flt_exit', 'flt_swapin', 'flt_wp'];
      const rest = ['unexcl', 'zap_range', 'notif_start', 'mirror_inval', 'mirror_read'];
      const v = await verdicts(
        without(path.join(dir, 'trace.txt.xz'), [...kprobes, ...more, ...rest, 'mm_page_free']),
      );
      expect(v.length).toBe(80);
      // 25/80 when an untraced GUP pinned nothing, 69/80 with walks interpolated.
      expect(agreeing(v, 'race-dontneed', log)).toBeGreaterThanOrEqual(75);
    },
  );

  it(
    "race-dontneed without walk probes: each of the caller's one-page TLB flushes (ptep_clear_flush) decides the walk up to the page it made exclusive, and every verdict is the kernel's",
    { timeout: 300_000 },
    async () => {
      const trace = without(path.join(dir, 'trace.txt.xz'), [
        'walk_in',
        'walk_out',
        'excl_vma',
        'excl_vma_done',
      ]);
      const v = await verdicts(trace);
      // 73/80 with walks interpolated from GUP's return to the call's.
      expect(agreeing(v, 'race-dontneed', log)).toBe(80);
      const timing = await replayed<{ walk_timing: string; n: bigint }>(
        trace,
        'SELECT walk_timing, count(*) AS n FROM exclusive_calls GROUP BY ALL',
      );
      expect(timing.map((t) => t.walk_timing)).toEqual(['tlb_flush']);
    },
  );

  it(
    "race-two_req without walk probes: where two threads race for a page, the one that returns before the other's flush failed its folio trylock",
    { timeout: 300_000 },
    async () => {
      const two = path.join(ROOT, 'traces/lab/6.12-r3/race-two_req/C');
      const v = await verdicts(
        without(path.join(two, 'trace.txt.xz'), [
          'walk_in',
          'walk_out',
          'excl_vma',
          'excl_vma_done',
        ]),
      );
      expect(v.length).toBe(143);
      // 133/143 when the loser's page was decided at its return as if nobody held the folio.
      expect(agreeing(v, 'race-two_req', path.join(two, 'stdout.log'))).toBeGreaterThanOrEqual(141);
    },
  );

  it(
    'race-uffd_wp without its protection probes: the notes say its UFFDIO_WRITEPROTECT ioctls are seen but not applied',
    { timeout: 300_000 },
    async () => {
      const uffd = path.join(ROOT, 'traces/lab/6.12-r3/race-uffd_wp/C/trace.txt.xz');
      const notes = await replayed<{ note: string | null }>(
        without(uffd, ['prot_change', 'uffd_wp', 'notif_start', 'mirror_inval']),
        'SELECT DISTINCT note FROM exclusive_requests',
      );
      expect(notes.map((n) => n.note)).toEqual([
        expect.stringMatching(/^untraced: 8576 UFFDIO_WRITEPROTECT ioctls .* are not applied/),
      ]);
    },
  );

  it(
    "race-dontneed, set C's trace-cmd report alone (kprobes printed as addresses; only the call named, by its page array): GUP and the walks are named by when they fire inside the calls, and at least 75 of 80 verdicts are the kernel's",
    { timeout: 300_000 },
    async () => {
      const report = alone(path.join(dir, 'report.txt.xz'));
      const { db } = await ingestTemp([report]);
      try {
        const { bound } = await bindProbes(db, 0, '6.12', 64);
        const named = Object.fromEntries(bound.map((b) => [b.event, b.func]));
        expect(named).toMatchObject({
          'kprobes:gup_in': 'get_user_pages_remote',
          'kprobes:walk_in': 'rmap_walk',
          'kprobes:excl_vma': 'page_make_device_exclusive_one',
        });
      } finally {
        db.close();
      }
      // 68/80 with only the call named.
      expect(agreeing(await verdicts(report), 'race-dontneed', log)).toBeGreaterThanOrEqual(75);
    },
  );

  it(
    "race-uffd_wp, set C's report alone: handle_mm_fault named as the probe at every user fault's address, mwriteprotect_range as the one inside every UFFDIO_WRITEPROTECT ioctl; at least 76 of 80 verdicts are the kernel's",
    { timeout: 300_000 },
    async () => {
      const uffd = path.join(ROOT, 'traces/lab/6.12-r3/race-uffd_wp/C');
      const report = alone(path.join(uffd, 'report.txt.xz'));
      const { db } = await ingestTemp([report]);
      try {
        const { bound } = await bindProbes(db, 0, '6.12', 64);
        expect(Object.fromEntries(bound.map((b) => [b.event, b.func]))).toMatchObject({
          'kprobes:flt_enter': 'handle_mm_fault',
          'kprobes:uffd_wp': 'mwriteprotect_range',
        });
      } finally {
        db.close();
      }
      // 52/80 without its write-protections.
      const log = path.join(uffd, 'stdout.log');
      expect(agreeing(await verdicts(report), 'race-uffd_wp', log)).toBeGreaterThanOrEqual(76);
    },
  );
});
