// The state every replayed operation reads and writes: tasks, address spaces, folios, and the
// interval bookkeeping that turns state changes into rows.
import type { KernelSemantics } from './kernel.js';
import { PagingGeometry } from './pgtable.js';
import type { SwapSlot } from './swap.js';
import {
  PAGE_SIZE,
  type Confidence,
  type Folio,
  type Mm,
  type Pte,
  type Task,
  type Vma,
} from './types.js';
import type { InvalidateListener } from './mmu_notifier.js';
import { copyPte } from './pte.js';
import { PteTable } from './pte_table.js';
import { Rmap } from './rmap.js';

export interface Sink {
  pte(mm: Mm, vpn: number, pte: Pte, end: bigint): void;
  /** end null: the interval runs to the end of the trace (the model no longer follows the folio). */
  folio(f: Folio, end: bigint | null): void;
  vma(mm: Mm, vma: Vma, end: bigint): void;
  violation(
    rule: string,
    explanation: string,
    label: 'kernel' | 'pre-trace' | 'lost-events' | 'model' | 'untraced',
  ): void;
}

/** Folio.unmapped of every folio nothing was unmapped from yet: shared, never written (rmap_remove
 *  gives a folio its own map first). Most folios never need one (trackUnmaps off, or never unmapped). */
const NO_UNMAPPED: Folio['unmapped'] = new Map();

export class Model {
  /** Tasks by tid: read through task(), written through setTask() (they keep its last answer). */
  readonly tasks = new Map<number, Task>();
  private lastTid = -1;
  private lastTask: Task | undefined;
  mms: Mm[] = [];
  folios = new Map<number, Folio>();
  /** Folios by known PFN (head page), a number: PFNs come from events' numeric fields, and a Map
   *  keyed by bigint hashes and compares each key through a runtime call (120 ns a lookup, 15). */
  byPfn = new Map<number, Folio>();
  now = 0n;
  eventId = 0;
  private nextFolio = 1;
  private nextVma = 1;
  private nextAnonVma = 1;
  /** Set while the events being replayed follow a lost-events marker closely. */
  nearLoss = false;
  /** What the current event changed, for the invariant sweep that follows it: the first
   *  nTouchedFolios (arrays reused from event to event: emptying one is a runtime call). */
  touchedFolios: Folio[] = [];
  nTouchedFolios = 0;
  /** Entries the current event set, as (touchedPteMms[i], touchedPteVas[i]) for i < nTouchedPtes. */
  touchedPteMms: Mm[] = [];
  touchedPteVas: number[] = [];
  nTouchedPtes = 0;
  /** Whether rmap_remove records who unmapped what (Folio.unmapped, Mm.lastUnmapped): only the
   *  device-exclusive calls read these, so a trace without them can skip it. */
  trackUnmaps = true;
  /** Task of the event being replayed (for culprits). */
  tid = 0;
  private listeners: InvalidateListener[] = [];
  zeroFolio: Folio;
  /** Swap slots in use (swap.ts), and whether the traced machine swaps at all (its rss_stat shows
   *  MM_SWAPENTS): without swap, reclaim leaves anonymous pages where they are. */
  swapSlots = new Map<number, SwapSlot>();
  nextSwapSlot = 1;
  swapOn = false;
  /** Page-table pages allocated so far, all mms (a fault's share is the difference around it). */
  pgtableAllocs = 0;
  /** VMAs that map each file identity, all mms: a file no VMA maps any more is never faulted on
   *  again (identities are per mmap call), and the page cache lets go of its pages. */
  readonly fileVmas = new Map<string, number>();
  /** Called when the last VMA of a file identity goes. */
  onFileUnmapped: ((file: string) => void) | null = null;

  constructor(
    readonly k: KernelSemantics,
    readonly sink: Sink,
    readonly geo: PagingGeometry = new PagingGeometry(4),
  ) {
    this.zeroFolio = this.newFolio({
      anon: false,
      zero: true,
      preTrace: true,
      pfnConfidence: 'unknown',
    });
    this.zeroFolio.refcount = 1;
  }

  /** mmu_notifier_invalidate_range_start: every registered mirror hears of [start, end). */
  mmu_notifier_invalidate(
    mm: Mm,
    start: number,
    end: number,
    event: number,
    owner: string | null = null,
  ): void {
    for (const l of this.listeners) l(mm, start, end, event, owner);
  }

  onInvalidate(l: InvalidateListener): void {
    this.listeners.push(l);
  }

  /** tasks.get(tid), the last answer kept: consecutive events are mostly one task's. */
  task(tid: number): Task | undefined {
    if (tid !== this.lastTid) {
      this.lastTid = tid;
      this.lastTask = this.tasks.get(tid);
    }
    return this.lastTask;
  }

  setTask(t: Task): void {
    this.tasks.set(t.tid, t);
    this.lastTid = -1;
  }

  newMm(tgid: number, preTrace: boolean): Mm {
    const mm: Mm = {
      id: this.mms.length,
      mmId: null,
      vmas: [],
      ptes: new PteTable(),
      pgtables: this.geo.spans.map(() => new Set<number>()),
      pgtablesFromStart: !preTrace,
      rss: [0, 0, 0, 0],
      rssKnown: [false, false, false, false],
      rssTrajectory: [[], [], [], []],
      rssFlushed: [0, 0, 0, 0],
      users: 0,
      exiting: false,
      uncertain: null,
      lastUnmapped: new Map(),
      preTrace,
      brk: null,
      start: this.now,
      tgid,
      dead: false,
    };
    this.mms.push(mm);
    return mm;
  }

  newVma(v: Omit<Vma, 'id' | 'since' | 'anonVma'> & { anonVma?: number | null }): Vma {
    return { anonVma: null, ...v, id: this.nextVma++, since: this.now };
  }

  anonVmaId(): number {
    return this.nextAnonVma++;
  }

  newFolio(p: Partial<Folio> & { anon: boolean }): Folio {
    const f: Folio = {
      id: this.nextFolio++,
      pfn: null,
      pfnConfidence: 'unknown',
      order: 0,
      shmem: false,
      zero: false,
      refcount: 0,
      mapcount: 0,
      entireMapcount: 0,
      pincount: 0,
      locked: false,
      anonExclusive: false,
      lru: false,
      dirty: false,
      freed: false,
      preTrace: false,
      swapSlot: null,
      ksm: false,
      rmap: new Rmap(),
      unmapped: NO_UNMAPPED,
      since: this.now,
      sinceEvent: this.eventId,
      touched: false,
      ...p,
    };
    this.folios.set(f.id, f);
    if (f.pfn !== null) this.claimPfn(f.pfn, f);
    return f;
  }

  /** Records a folio's state up to now before it changes. */
  touchFolio(f: Folio): void {
    if (f.zero) return;
    if (!f.touched) {
      f.touched = true;
      this.touchedFolios[this.nTouchedFolios++] = f;
    }
    if (f.since !== this.now) this.sink.folio(f, this.now);
    f.since = this.now;
    f.sinceEvent = this.eventId;
  }

  setPfn(f: Folio, pfn: number, confidence: Confidence): void {
    if (f.pfn !== null && this.byPfn.get(f.pfn) === f) this.byPfn.delete(f.pfn);
    f.pfn = pfn;
    f.pfnConfidence = confidence;
    const prev = this.byPfn.get(pfn);
    if (prev && prev !== f && !prev.freed && prev.mapcount > 0) {
      this.sink.violation(
        'pfn_reused_while_mapped',
        `pfn 0x${pfn.toString(16)} allocated again while folio ${prev.id} still maps it`,
        this.label(prev.preTrace),
      );
    }
    this.claimPfn(pfn, f);
  }

  /** Undoes a free the model made too early (a reference it learnt of late kept the folio alive). */
  reviveFolio(f: Folio): void {
    if (!f.freed) return;
    f.freed = false;
    this.folios.set(f.id, f);
    if (f.pfn !== null && !this.byPfn.has(f.pfn)) this.byPfn.set(f.pfn, f);
  }

  /**
   * Stops following a folio nothing can reach any more but its page-cache entry. One of known PFN
   * stays findable by it (an event naming the PFN may still change it) until another folio takes
   * the PFN; then, or at once for one of unknown PFN, its last interval is written, to run to the
   * end of the trace (the end filled in then).
   */
  forgetFolio(f: Folio): void {
    this.folios.delete(f.id);
    if (f.pfn === null || this.byPfn.get(f.pfn) !== f) this.sink.folio(f, null);
  }

  /** f is the folio at pfn now; a forgotten folio it displaces is let go (forgetFolio). */
  claimPfn(pfn: number, f: Folio): void {
    const prev = this.byPfn.get(pfn);
    if (prev && prev !== f && !prev.freed && !this.folios.has(prev.id)) this.sink.folio(prev, null);
    this.byPfn.set(pfn, f);
  }

  /** Forgotten folios still findable by their PFN (written at the end of the trace). */
  *parkedFolios(): Iterable<Folio> {
    for (const f of this.byPfn.values()) if (!f.freed && !this.folios.has(f.id)) yield f;
  }

  /** Frees a folio whose last reference went away. */
  freeFolio(f: Folio): void {
    if (f.zero || f.freed) return;
    this.touchFolio(f);
    f.freed = true;
    this.sink.folio(f, this.now);
    f.since = this.now;
    this.folios.delete(f.id);
    if (f.pfn !== null && this.byPfn.get(f.pfn) === f) this.byPfn.delete(f.pfn);
  }

  folio_get(f: Folio, n = 1): void {
    if (f.zero) return;
    this.touchFolio(f);
    f.refcount += n;
  }

  folio_put(f: Folio, n = 1): void {
    if (f.zero) return;
    this.touchFolio(f);
    f.refcount -= n;
    if (f.refcount < 0) {
      this.sink.violation(
        'refcount_negative',
        `folio ${f.id} (pfn ${fmtPfn(f)}) refcount ${f.refcount}`,
        this.label(f.preTrace),
      );
      f.refcount = 0;
    }
    if (f.refcount === 0) this.freeFolio(f);
  }

  label(preTrace: boolean): 'kernel' | 'pre-trace' | 'lost-events' {
    return this.nearLoss ? 'lost-events' : preTrace ? 'pre-trace' : 'kernel';
  }

  // --- page table entries ---

  pte(mm: Mm, va: number): Pte | undefined {
    return mm.ptes.get(Math.floor(va / 4096));
  }

  /** Installs (or clears, with null) the entry at va, closing the previous entry's interval. */
  set_pte_at(mm: Mm, va: number, next: Omit<Pte, 'since' | 'sinceEvent'> | null): Pte | null {
    const vpn = Math.floor(va / 4096);
    const prev = mm.ptes.get(vpn);
    if (prev) this.sink.pte(mm, vpn, prev, this.now);
    if (!next) {
      mm.ptes.delete(vpn);
      return null;
    }
    // Every caller passes a fresh object (a literal, a spread or presentPte): it becomes the entry.
    const p = next as Pte;
    p.since = this.now;
    p.sinceEvent = this.eventId;
    if (!prev) this.pgtableAllocs += this.geo.pgtable_alloc(mm, va);
    mm.ptes.set(vpn, p);
    this.touchedPteMms[this.nTouchedPtes] = mm;
    this.touchedPteVas[this.nTouchedPtes++] = va;
    return p;
  }

  /** Changes an entry in place (e.g. write-protect), closing its interval first. */
  modify_pte(mm: Mm, va: number, change: Partial<Pte>): Pte | null {
    const cur = this.pte(mm, va);
    if (!cur) return null;
    return this.set_pte_at(mm, va, Object.assign(copyPte(cur), change));
  }

  // --- rmap ---

  rmap_add(f: Folio, mm: Mm, va: number): void {
    if (f.zero) return;
    this.touchFolio(f);
    f.rmap.set(rmapKey(mm.id, va), { mm: mm.id, va });
    f.mapcount++;
  }

  rmap_remove(f: Folio, mm: Mm, va: number): void {
    if (f.zero) return;
    this.touchFolio(f);
    const key = rmapKey(mm.id, va);
    if (this.trackUnmaps) {
      if (f.unmapped === NO_UNMAPPED) f.unmapped = new Map();
      f.unmapped.set(key, { eventId: this.eventId, ts: this.now, tid: this.tid });
      mm.lastUnmapped.set(va, { folio: f, ts: this.now });
    }
    if (!f.rmap.delete(key)) {
      this.sink.violation(
        'rmap_missing',
        `folio ${f.id} not mapped at ${mm.id}:0x${va.toString(16)}`,
        this.label(f.preTrace),
      );
    }
    f.mapcount--;
    if (f.mapcount < 0) {
      this.sink.violation(
        'mapcount_negative',
        `folio ${f.id} mapcount ${f.mapcount}`,
        this.label(f.preTrace),
      );
      f.mapcount = 0;
    }
  }

  ptesIn(mm: Mm, start: number, end: number): number[] {
    return mm.ptes.keysIn(Math.floor(start / 4096), Math.ceil(end / 4096));
  }
}

/**
 * The key of a PTE mapping in Folio.rmap and Folio.unmapped: one number for a page-aligned
 * address below 2^47 in one of the first 2^18 mms (no string to build and hash), else the string
 * `mm:va`. Numbers and strings never meet as Map keys; PMD mappings use `mm:va:pmd` strings.
 */
export function rmapKey(mmId: number, va: number): number | string {
  return Math.trunc(va / 4096) * 4096 === va &&
    va >= 0 &&
    va < 2 ** 47 &&
    mmId >= 0 &&
    mmId < 2 ** 18
    ? mmId * 2 ** 35 + va / 4096
    : `${mmId}:${va}`;
}

export function fmtPfn(f: Folio): string {
  return f.pfn === null ? '?' : `0x${f.pfn.toString(16)}`;
}

export function vaOf(vpn: number): number {
  // PAGE_SIZE, not 2 ** PAGE_SHIFT: an imported exponent is not folded, and pow costs 60 ns a call.
  return vpn * PAGE_SIZE;
}
