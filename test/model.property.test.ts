// Property tests: random sequences of address-space operations through the model keep the
// kernel's invariants after every step (and the model's counters equal what its page tables hold).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../src/replay/invariants.js';
import { semantics } from '../src/replay/kernel.js';
import { do_anonymous_page, do_wp_page, mm_counter } from '../src/replay/memory.js';
import {
  do_madvise,
  do_mmap,
  do_mprotect,
  do_mremap,
  do_munmap,
  exit_mmap,
  MADV,
} from '../src/replay/mmap.js';
import { Model, type Sink } from '../src/replay/model.js';
import { do_swap_page } from '../src/replay/swap.js';
import { MM_ANONPAGES, MM_SWAPENTS, PAGE_SIZE, type Mm } from '../src/replay/types.js';
import { copy_page_range } from '../src/replay/copy_page_range.js';
import { find_vma, insertVma } from '../src/replay/vma.js';

const BASE = 0x7f0000000000;
const PAGES = 64;

type Op =
  | { op: 'fault'; mm: number; page: number; write: boolean }
  | { op: 'fork'; mm: number }
  | { op: 'munmap' | 'dontneed' | 'pageout'; mm: number; page: number; n: number }
  | { op: 'mprotect'; mm: number; page: number; n: number; write: boolean }
  | { op: 'mremap'; mm: number; to: number }
  | { op: 'exit'; mm: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('fault' as const),
      mm: fc.nat(3),
      page: fc.nat(PAGES - 1),
      write: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fork' as const), mm: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom('munmap' as const, 'dontneed' as const),
      mm: fc.nat(3),
      page: fc.nat(PAGES - 1),
      n: fc.integer({ min: 1, max: 8 }),
    }),
  },
  // Reclaim takes wide ranges, so later faults find swap entries to swap in.
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('pageout' as const),
      mm: fc.nat(3),
      page: fc.nat(PAGES - 1),
      n: fc.integer({ min: 1, max: PAGES }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('mprotect' as const),
      mm: fc.nat(3),
      page: fc.nat(PAGES - 1),
      n: fc.integer({ min: 1, max: 8 }),
      write: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('mremap' as const),
      mm: fc.nat(3),
      to: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exit' as const), mm: fc.nat(3) }) },
);

function run(ops: Op[]): string[] {
  const violations: string[] = [];
  const sink: Sink = {
    pte() {},
    folio() {},
    vma() {},
    violation: (rule, why) => violations.push(`${rule}: ${why}`),
  };
  const m = new Model(semantics('6.12'), sink);
  m.swapOn = true;
  const mms: Mm[] = [m.newMm(1, false)];
  mms[0].users = 1;
  do_mmap(m, mms[0], BASE, PAGES * PAGE_SIZE, 3, 0x22, -1, 0, null);
  let t = 0n;
  for (const o of ops) {
    m.now = ++t;
    m.eventId = Number(t);
    const mm = mms[o.mm % mms.length];
    if (mm.dead) continue;
    const va = BASE + ('page' in o ? o.page : 0) * PAGE_SIZE;
    switch (o.op) {
      case 'fault': {
        const vma = find_vma(mm, va);
        if (!vma || (o.write && !vma.write)) break;
        const pte = m.pte(mm, va);
        if (!pte) do_anonymous_page(m, mm, vma, va, o.write, null);
        else if (pte.kind === 'swap') do_swap_page(m, m.k, mm, vma, va, pte, o.write, null);
        else if (o.write && pte.kind === 'present' && !pte.write)
          do_wp_page(m, mm, vma, va, pte, null);
        break;
      }
      case 'fork': {
        const child = m.newMm(mms.length + 1, false);
        child.users = 1;
        for (const v of mm.vmas) {
          insertVma(
            m,
            child,
            m.newVma({ ...v, anonVma: v.anonVma === null ? null : m.anonVmaId() }),
          );
          copy_page_range(m, child, mm, v, () => true);
        }
        mms.push(child);
        break;
      }
      case 'munmap':
        do_munmap(m, mm, va, o.n * PAGE_SIZE);
        break;
      case 'dontneed':
        do_madvise(m, mm, va, o.n * PAGE_SIZE, MADV.DONTNEED);
        break;
      case 'pageout':
        do_madvise(m, mm, va, o.n * PAGE_SIZE, MADV.PAGEOUT);
        break;
      case 'mprotect':
        do_mprotect(m, mm, va, o.n * PAGE_SIZE, o.write ? 3 : 1);
        break;
      case 'mremap': {
        const v = mm.vmas[0];
        const to = BASE + o.to * 0x10000000;
        // The kernel refuses a move onto its own source (EINVAL), so no trace holds one.
        if (v && (to >= v.end || to + (v.end - v.start) <= v.start))
          do_mremap(m, mm, v.start, v.end - v.start, v.end - v.start, to);
        break;
      }
      case 'exit':
        if (mms.length > 1) exit_mmap(m, mm);
        break;
    }
    checkInvariants(m);
    // The model's own bookkeeping: counters equal the anonymous pages its page tables map, and
    // every folio's mapcount equals the PTEs that map it.
    for (const x of mms) {
      if (x.dead) continue;
      const anon = [...x.ptes.values()].filter(
        (p) =>
          p.kind === 'present' && p.folio && !p.folio.zero && mm_counter(p.folio) === MM_ANONPAGES,
      ).length;
      if (x.rss[MM_ANONPAGES] !== anon)
        violations.push(`rss: mm ${x.id} counts ${x.rss[MM_ANONPAGES]} anon pages, maps ${anon}`);
      const swap = [...x.ptes.values()].filter((p) => p.kind === 'swap').length;
      if (x.rss[MM_SWAPENTS] !== swap)
        violations.push(`rss: mm ${x.id} counts ${x.rss[MM_SWAPENTS]} swap entries, holds ${swap}`);
      // Every entry sits in a page-table page the radix tree has.
      for (const vpn of x.ptes.keys())
        if (!x.pgtables[0].has(Math.floor((vpn * PAGE_SIZE) / 2 ** 21)))
          violations.push(`pgtable: mm ${x.id} entry ${vpn} has no pte table`);
    }
    // Each swap slot counts the entries that name it, and its swap-cache folio names it back.
    const slotRefs = new Map<number, number>();
    for (const x of mms)
      for (const p of x.ptes.values())
        if (p.kind === 'swap' && p.swapSlot !== undefined)
          slotRefs.set(p.swapSlot, (slotRefs.get(p.swapSlot) ?? 0) + 1);
    for (const s of m.swapSlots.values()) {
      if ((slotRefs.get(s.id) ?? 0) !== s.count)
        violations.push(
          `swap: slot ${s.id} counts ${s.count}, named by ${slotRefs.get(s.id) ?? 0}`,
        );
      if (s.folio && (s.folio.swapSlot !== s.id || s.folio.freed))
        violations.push(`swap: slot ${s.id} cache folio ${s.folio.id} does not name it`);
    }
    const maps = new Map<number, number>();
    for (const x of mms)
      for (const p of x.ptes.values())
        if (p.kind === 'present' && p.folio && !p.folio.zero)
          maps.set(p.folio.id, (maps.get(p.folio.id) ?? 0) + 1);
    for (const f of m.folios.values())
      if (!f.zero && (maps.get(f.id) ?? 0) !== f.mapcount)
        violations.push(
          `mapcount: folio ${f.id} says ${f.mapcount}, mapped ${maps.get(f.id) ?? 0}`,
        );
  }
  return violations;
}

describe('model invariants under random operation sequences', () => {
  it('hold after every step', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        expect(run(ops)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('would catch a broken COW: a fork that forgets the child reference', () => {
    // The checker is not vacuous: corrupt one folio after a fork and it reports.
    const violations: string[] = [];
    const m = new Model(semantics('6.12'), {
      pte() {},
      folio() {},
      vma() {},
      violation: (r) => violations.push(r),
    });
    const mm = m.newMm(1, false);
    const vma = do_mmap(m, mm, BASE, PAGE_SIZE, 3, 0x22, -1, 0, null);
    do_anonymous_page(m, mm, vma, BASE, true, null);
    m.pte(mm, BASE)!.folio!.refcount = 0;
    m.touchFolio(m.pte(mm, BASE)!.folio!);
    checkInvariants(m);
    expect(violations).toContain('refcount_below_mapcount_plus_pins');
  });
});
