// The generator's own kernel: the true state of the racing process's anonymous region and of
// test_hmm's device page table, changed by each simulated operation as Linux 6.12 changes it
// (mm/memory.c, mm/rmap.c, mm/migrate.c, mm/vmscan.c, mm/ksm.c, kernel/fork.c, lib/test_hmm.c; see
// ../../shared/reference/device-exclusive.md and facts.md). It is the ground truth; the replay
// (src/replay/) never sees it, only the lines.
import { migrationEntry, NOTIFY, swapEntry, type Lines } from './lines.js';

export const PAGE = 4096;
/** Fault flags of a user write fault under the per-VMA lock, and of GUP's (FOLL_WRITE, remote). */
const USER_WRITE_FAULT = 0x1a55;
const GUP_FAULT = 0x881;

/** Who holds a folio's lock (folio_trylock fails for everyone else). */
export type LockHolder = 'call' | 'migration' | 'ksm' | 'reclaim';

export interface Folio {
  pfn: number;
  /** Present PTEs that map it: the process's, a fork child's, every address a KSM page backs. */
  mapcount: number;
  /**
   * Page references (folio_ref_count): one per present PTE or device-exclusive entry, each GUP
   * pin, the swap cache, a migration's or reclaim's isolation, ksmd's while it merges. At zero the
   * page is freed (mm_page_free, where the recording has it).
   */
  refs: number;
  /** PageAnonExclusive: mapped by one process only (fork's sharing and KSM clear it). */
  anonExclusive: boolean;
  /** A KSM page (never reused on a write fault). */
  ksm: boolean;
  /** The swap slot while the folio is in the swap cache, else 0. */
  swapSlot: number;
  /** Taken off the LRU by a migration or reclaim (isolate_lru_folio). */
  isolated: boolean;
  /** In a migration batch that has started (mm_migrate_pages_start) and not yet locked it. */
  migrating: boolean;
  lock: LockHolder | null;
  /** Line of the syscall that last unmapped it (the culprit of a replaced page). */
  unmappedBy: number;
  /** Threads sleeping until the folio is unlocked (folio_lock_or_retry, migration_entry_wait). */
  waiters: (() => void)[];
  freed: boolean;
}

export interface Thread {
  tid: number;
  cpu: number;
}

/** A fork child's copy of the region (race.c fork_exit / fork_write: it lives until it exits). */
export interface Child extends Thread {
  folio: (Folio | null)[];
  /** Pages the child has written: its own, writable. */
  own: Uint8Array;
}

/** Pages per PMD (2 MiB); the region starts on a PMD boundary. */
const PMD_PAGES = 512;
const NONE = 0;
const PRESENT = 1;
const EXCLUSIVE = 2;
/** A migration entry (set_migration_pte): the folio is locked by its migration. */
const MIGRATION = 3;
/** A swap entry; folio[p] is the folio while it is in the swap cache. */
const SWAP = 4;

/** The outcome of one page's conversion by make_device_exclusive_range. */
export interface WalkResult {
  ok: boolean;
  cause: 'exclusive' | 'replaced' | 'write_protected' | 'trylock_failed';
  culprit: number;
  /** Who held the folio where folio_trylock failed. */
  holder?: LockHolder;
  /** The walk locked a folio a started migration batch had not locked yet (see driver.ts). */
  migrating?: boolean;
}

/** One anonymous, private, writable mapping (the race program's region) and the device mirror. */
export class Region {
  readonly kind: Uint8Array;
  readonly folio: (Folio | null)[];
  /** test_hmm's device page table (dmirror->pt) over the region's page indices (+1 past the end). */
  readonly mirror: Uint8Array;
  /** A present PTE's write bit; a device-exclusive or migration entry's (writable or readable). */
  readonly write: Uint8Array;
  readonly entryWrite: Uint8Array;
  /** Line of the UFFDIO_WRITEPROTECT (its uffd_wp_range) that last made the PTE read-only. */
  readonly protectedBy: Float64Array;
  /** The page's VMA is read-only (an mprotect(PROT_READ) split it off). */
  readonly vmaReadOnly: Uint8Array;
  /** The fork child alive now, if any. */
  child: Child | null = null;
  /**
   * Pages where the replay's state has parted from the kernel's through a known gap of the model
   * (a lock it cannot see, MADV_PAGEOUT applied at once): the gap, until a zap makes both agree.
   */
  readonly taint: (string | null)[];
  /** ksmd has write-protected (and maybe replaced) the page, and not yet reported the merge. */
  readonly ksmPending: Uint8Array;
  private nextPfn = 0x10000;
  /**
   * Freed PFNs, the last freed first (the page allocator's per-CPU lists hand a freed page out
   * again soon): the PFNs in use stay bounded however long the run, as on a real machine.
   */
  private freePfns: number[] = [];
  private nextSlot = 1;

  constructor(
    readonly base: number,
    readonly npages: number,
    readonly lines: Lines,
  ) {
    this.kind = new Uint8Array(npages);
    this.folio = new Array(npages).fill(null);
    this.mirror = new Uint8Array(npages + 2);
    this.write = new Uint8Array(npages);
    this.entryWrite = new Uint8Array(npages);
    this.protectedBy = new Float64Array(npages);
    this.vmaReadOnly = new Uint8Array(npages);
    this.taint = new Array(npages).fill(null);
    this.ksmPending = new Uint8Array(npages);
  }

  va(p: number): number {
    return this.base + p * PAGE;
  }

  isNone(p: number): boolean {
    return this.kind[p] === NONE;
  }
  isExclusive(p: number): boolean {
    return this.kind[p] === EXCLUSIVE;
  }
  isPresent(p: number): boolean {
    return this.kind[p] === PRESENT;
  }

  /**
   * mmu_notifier_invalidate_range_start over pages [s, e): test_hmm's dmirror_interval_invalidate
   * -> dmirror_do_update erases xa_for_each_range(start >> PAGE_SHIFT, end >> PAGE_SHIFT), whose
   * last index is inclusive: page e goes too.
   */
  private invalidate(s: number, e: number): void {
    for (let p = s; p <= e && p < this.mirror.length; p++) this.mirror[p] = 0;
  }

  // --- folio references and locks ---------------------------------------------------------------

  private newFolio(): Folio {
    return {
      pfn: this.freePfns.pop() ?? this.nextPfn++,
      mapcount: 0,
      refs: 1,
      anonExclusive: true,
      ksm: false,
      swapSlot: 0,
      isolated: false,
      migrating: false,
      lock: null,
      unmappedBy: 0,
      waiters: [],
      freed: false,
    };
  }

  get(f: Folio): void {
    f.refs++;
  }

  /** folio_put: the last reference frees the page (in the putting thread's context). */
  put(t: Thread, f: Folio): void {
    if (--f.refs > 0) return;
    f.freed = true;
    this.lines.pageFree(t.tid, t.cpu, f.pfn);
    this.freePfns.push(f.pfn);
  }

  /** folio_trylock. */
  tryLock(f: Folio, who: LockHolder): boolean {
    if (f.lock !== null) return false;
    f.lock = who;
    return true;
  }

  /** folio_unlock: sleepers (faults, GUP, a migration's folio_lock) retry. */
  unlockFolio(t: Thread, f: Folio, flags?: string): void {
    this.lines.folioUnlock(t.tid, t.cpu, f.pfn, flags);
    f.lock = null;
    const w = f.waiters;
    f.waiters = [];
    for (const wake of w) wake();
  }

  // --- faults ------------------------------------------------------------------------------------

  /** do_anonymous_page: a new zeroed page, mapped writable (its lines: alloc, rmap). */
  private newPage(t: Thread, p: number): Folio {
    const f = this.newFolio();
    f.mapcount = 1;
    this.lines.pageAlloc(t.tid, t.cpu, f.pfn);
    this.lines.newAnonRmap(t.tid, t.cpu, f.pfn, this.va(p));
    this.kind[p] = PRESENT;
    this.write[p] = 1;
    this.folio[p] = f;
    return f;
  }

  /**
   * remove_device_exclusive_entry -> restore_exclusive_pte (6.12 mm/memory.c): notifier EXCLUSIVE
   * with owner NULL, then a present PTE again and the rmap re-added (the entry's reference is the
   * mapping's again).
   */
  private restore(t: Thread, p: number): void {
    const f = this.folio[p]!;
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.EXCLUSIVE);
    this.invalidate(p, p + 1);
    this.lines.restoreExclusivePte(t.tid, t.cpu, this.va(p), f.pfn);
    this.lines.anonRmapPtes(t.tid, t.cpu, f.pfn, this.va(p));
    this.kind[p] = PRESENT;
    this.write[p] = this.entryWrite[p];
    f.mapcount++;
  }

  /**
   * do_wp_page: a write fault on a read-only present PTE. wp_can_reuse_anon_folio reuses an
   * exclusive page (after clearing uffd-wp: the region is registered with UFFD_FEATURE_WP_ASYNC),
   * or one nobody else references (its trylock and unlock show); else wp_page_copy maps a copy
   * (notifier CLEAR in the process, none in a fork child: it has no subscription).
   */
  private wpFault(t: Thread, p: number, flags: number, child: Child | null = null): void {
    this.lines.doWpPage(t.tid, t.cpu, this.va(p), flags);
    const f = (child ? child.folio[p] : this.folio[p])!;
    // A merge ksmd has made but not yet reported: the replay applies it only at
    // ksm_merge_with_ksm_page (a merge into a KSM page at the free after it), so it still sees
    // this PTE writable, mapping the old page, and the copy the fault makes is not where it looks.
    if (!child && this.ksmPending[p]) this.taint[p] ??= 'ksm_merge';
    if (!f.anonExclusive && !f.ksm && f.refs === 1 + (f.swapSlot ? 1 : 0) && f.lock === null) {
      this.lines.folioUnlock(t.tid, t.cpu, f.pfn, '0x20029');
      f.anonExclusive = true;
    }
    if (f.anonExclusive) {
      if (!child) this.write[p] = 1;
      return;
    }
    const nf = this.newFolio();
    nf.mapcount = 1;
    this.lines.pageAlloc(t.tid, t.cpu, nf.pfn, 'copy');
    if (!child) {
      this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.CLEAR);
      this.invalidate(p, p + 1);
    }
    this.lines.newAnonRmap(t.tid, t.cpu, nf.pfn, this.va(p));
    f.mapcount--;
    if (child) child.folio[p] = nf;
    else {
      this.folio[p] = nf;
      this.write[p] = 1;
    }
    this.put(t, f);
  }

  /**
   * do_swap_page on a swap entry whose folio is still in the swap cache (nothing is freed from it
   * here): the same folio is mapped again, locked meanwhile; a write fault by its only user drops
   * the cache copy (should_try_to_free_swap) and maps it writable.
   */
  private swapIn(t: Thread, p: number, flags: number, write: boolean): void {
    const f = this.folio[p]!;
    this.lines.doSwapPage(t.tid, t.cpu, this.va(p), flags, f.pfn, swapEntry(f.swapSlot));
    this.get(f);
    if (write && f.refs === 2) {
      f.swapSlot = 0;
      f.refs--;
    }
    this.lines.anonRmapPtes(t.tid, t.cpu, f.pfn, this.va(p), 1, -1);
    this.lines.folioUnlock(t.tid, t.cpu, f.pfn, '0x400000000020839');
    this.kind[p] = PRESENT;
    // An exclusive entry maps writable (6.12 maps it so on a read fault too, in a writable VMA).
    this.write[p] = this.entryWrite[p];
    f.anonExclusive = this.entryWrite[p] === 1;
    f.mapcount++;
  }

  /**
   * The prefault and the racers' writes: a user write fault, or nothing on a present page. Returns
   * the folio to sleep on where the fault must wait for its unlock (then userWriteRetry).
   */
  userWrite(t: Thread, p: number): 'done' | Folio {
    // A present page: writable, or write-protected by userfaultfd (or fork, KSM), whose fault the
    // generator does not simulate for these racers: the write is left out.
    if (this.kind[p] === PRESENT) return 'done';
    // A write to a read-only VMA is a SIGSEGV the race program would die of: left out.
    if (this.vmaReadOnly[p]) return 'done';
    this.lines.pageFaultUser(t.tid, t.cpu, this.va(p), 0x6);
    return this.userFault(t, p);
  }

  private userFault(t: Thread, p: number): 'done' | Folio {
    if (this.kind[p] === NONE) {
      this.newPage(t, p);
      return 'done';
    }
    const f = this.folio[p]!;
    if (this.kind[p] === SWAP) {
      this.swapIn(t, p, USER_WRITE_FAULT, true);
      if (!this.write[p]) this.wpFault(t, p, USER_WRITE_FAULT);
      return 'done';
    }
    if (this.kind[p] === MIGRATION) {
      // migration_entry_wait: sleep until the migration unlocks the folio, then fault again.
      this.lines.doSwapPage(
        t.tid,
        t.cpu,
        this.va(p),
        USER_WRITE_FAULT,
        f.pfn,
        migrationEntry(f.pfn),
      );
      return f;
    }
    // A device-exclusive entry: do_swap_page; while someone holds the folio lock the fault sleeps
    // (folio_lock_or_retry -> VM_FAULT_RETRY) and retries once it is unlocked.
    this.lines.doSwapPage(t.tid, t.cpu, this.va(p), USER_WRITE_FAULT, f.pfn);
    if (f.lock !== null) return f;
    this.restore(t, p);
    if (!this.write[p]) this.wpFault(t, p, USER_WRITE_FAULT);
    return 'done';
  }

  /**
   * The retried fault after the folio was unlocked. Where another racer zapped the page meanwhile
   * the retry maps a new one; its page_fault_user line is the generator's (the kernel retries
   * within the same exception), so that a replay sees the fault it needs.
   */
  userWriteRetry(t: Thread, p: number): 'done' | Folio {
    if (this.kind[p] === EXCLUSIVE) {
      const f = this.folio[p]!;
      this.lines.doSwapPage(t.tid, t.cpu, this.va(p), USER_WRITE_FAULT, f.pfn);
      if (f.lock !== null) return f;
      this.restore(t, p);
      if (!this.write[p]) this.wpFault(t, p, USER_WRITE_FAULT);
      return 'done';
    }
    if (this.kind[p] === NONE) {
      this.lines.pageFaultUser(t.tid, t.cpu, this.va(p), 0x6);
      this.newPage(t, p);
      return 'done';
    }
    if (this.kind[p] === PRESENT) return 'done';
    return this.userFault(t, p);
  }

  /**
   * MADV_DONTNEED over pages [a, a + k) (zap_page_range_single -> zap_pte_range): the notifier
   * (CLEAR), then every PTE and entry goes; a page GUP pinned survives on its reference, unmapped.
   * A device-exclusive entry's reference goes at once (zap_nonpresent_ptes), the present pages'
   * after the TLB flush (tlb_finish_mmu), a page in the swap cache leaving it then
   * (free_swap_cache); a swap entry frees its slot and the cached folio.
   */
  zap(t: Thread, a: number, k: number, culprit: number): void {
    this.lines.notifier(t.tid, t.cpu, this.va(a), this.va(a + k), NOTIFY.CLEAR);
    this.invalidate(a, a + k);
    this.lines.unmapPageRange(t.tid, t.cpu, this.va(a), this.va(a + k));
    const batch: Folio[] = [];
    for (let p = a; p < a + k; p++) {
      const f = this.folio[p];
      if (f && this.kind[p] === PRESENT) {
        f.mapcount--;
        f.unmappedBy = culprit;
        batch.push(f);
      } else if (f && this.kind[p] === EXCLUSIVE) this.put(t, f);
      else if (f && this.kind[p] === SWAP && f.swapSlot && f.mapcount === 0) {
        f.swapSlot = 0;
        this.put(t, f);
      }
      this.kind[p] = NONE;
      this.folio[p] = null;
      this.taint[p] = null;
    }
    for (const f of batch) {
      if (f.swapSlot && f.mapcount === 0 && f.lock === null) {
        f.swapSlot = 0;
        this.put(t, f);
      }
      this.put(t, f);
    }
  }

  /**
   * One page of get_user_pages_remote(FOLL_GET | FOLL_WRITE): fault in what is missing
   * (handle_mm_fault, no page_fault_user), restore a device-exclusive entry, break COW, swap in,
   * take a reference. `wait`: the page's folio is locked (a migration entry, a locked entry's
   * folio): GUP sleeps until it is unlocked, then retries the page.
   */
  gupPin(t: Thread, p: number): Folio | { wait: Folio } {
    if (this.kind[p] === NONE) this.newPage(t, p);
    else if (this.kind[p] === MIGRATION) {
      const f = this.folio[p]!;
      this.lines.doSwapPage(t.tid, t.cpu, this.va(p), GUP_FAULT, f.pfn, migrationEntry(f.pfn));
      return { wait: f };
    } else if (this.kind[p] === SWAP) this.swapIn(t, p, GUP_FAULT, true);
    else if (this.kind[p] === EXCLUSIVE) {
      const f = this.folio[p]!;
      this.lines.doSwapPage(t.tid, t.cpu, this.va(p), GUP_FAULT, f.pfn);
      if (f.lock !== null) return { wait: f };
      this.restore(t, p);
    }
    // FOLL_WRITE on a read-only PTE: faultin_page -> handle_mm_fault(FAULT_FLAG_WRITE).
    if (!this.write[p]) this.wpFault(t, p, GUP_FAULT);
    const f = this.folio[p]!;
    this.get(f);
    return f;
  }

  /**
   * UFFDIO_WRITEPROTECT over [a, a + k) (mwriteprotect_range -> uffd_wp_range -> change_protection,
   * under mmap_read_lock): one PROTECTION_VMA notifier, then present PTEs read-only (mode WP) or
   * writable again (mode 0: an exclusive anonymous page), and every writable device-exclusive
   * entry readable (change_pte_range does that for any change_protection).
   */
  uffdWriteProtect(t: Thread, a: number, k: number, enable: boolean): void {
    const line = this.lines.uffdWpRange(t.tid, t.cpu, this.va(a), k * PAGE, enable);
    this.lines.notifier(t.tid, t.cpu, this.va(a), this.va(a + k), NOTIFY.PROTECTION_VMA);
    this.invalidate(a, a + k);
    for (let p = a; p < a + k; p++) {
      if (this.kind[p] === PRESENT) {
        if (enable && this.write[p]) {
          this.write[p] = 0;
          this.protectedBy[p] = line;
        } else if (!enable) this.write[p] = 1;
      } else if (this.kind[p] === EXCLUSIVE) this.entryWrite[p] = 0;
    }
  }

  /**
   * make_device_exclusive_range's per-page step after GUP (6.12 mm/rmap.c): folio_trylock (a
   * failure ends the page at once: no walk), then folio_make_device_exclusive's rmap walk, which
   * converts the folio's mapping, if any, into a device-exclusive entry. The page succeeds only if
   * that mapping was the expected address, writable (`valid`), and none remains. On success the
   * folio stays locked; on failure it is unlocked here (the caller puts it either way).
   */
  walk(t: Thread, p: number, f: Folio): WalkResult {
    if (!this.tryLock(f, 'call'))
      return { ok: false, cause: 'trylock_failed', culprit: 0, holder: f.lock! };
    const migrating = f.migrating;
    const mapped = f.mapcount > 0 && this.folio[p] === f && this.kind[p] === PRESENT;
    this.lines.rmapWalk(t.tid, t.cpu, f.pfn, f.mapcount > 0);
    this.lines.lockAnonVmaReturn(t.tid, t.cpu, f.pfn, f.mapcount > 0);
    if (!mapped) {
      this.unlockFolio(t, f);
      return { ok: false, cause: 'replaced', culprit: f.unmappedBy, migrating };
    }
    this.lines.exclusiveOne(t.tid, t.cpu, f.pfn, this.va(p));
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.EXCLUSIVE);
    this.invalidate(p, p + 1);
    // The entry is writable or readable by the old PTE; only a writable one sets `valid`.
    const valid = this.write[p] === 1;
    this.kind[p] = EXCLUSIVE;
    this.entryWrite[p] = this.write[p];
    f.mapcount--;
    this.lines.exclusiveOneReturn(t.tid, t.cpu, f.pfn, this.va(p), valid);
    if (!valid) {
      this.unlockFolio(t, f);
      return { ok: false, cause: 'write_protected', culprit: this.protectedBy[p], migrating };
    }
    return { ok: true, cause: 'exclusive', culprit: 0, migrating };
  }

  /**
   * How many pages of [c0, c0 + k) GUP with FOLL_WRITE pins before check_vma_flags refuses a
   * read-only VMA (the VMAs cannot change during the call: the caller holds mmap_read_lock).
   */
  gupReach(c0: number, k: number): number {
    for (let i = 0; i < k; i++) if (this.vmaReadOnly[c0 + i]) return i;
    return k;
  }

  /**
   * mprotect(PROT_READ or PROT_READ|PROT_WRITE) of [a, a + k) under mmap_write_lock (6.12
   * mprotect_fixup). Making it read-only splits the VMA: __split_vma -> vma_adjust_trans_huge ->
   * split_huge_pmd_if_needed, for a split address inside a 2 MiB range the VMA covers, reaches
   * __split_huge_pmd, whose CLEAR notifier covers that whole range before it looks at the PMD.
   * Then change_protection's PROTECTION_VMA notifier over the range; present PTEs lose (or, back to
   * writable, regain: exclusive anonymous pages) their write bit, writable device-exclusive entries
   * become readable. Restoring merges the VMAs back without a notifier of its own.
   */
  mprotect(t: Thread, a: number, k: number, readOnly: boolean): void {
    if (readOnly) {
      const pmds = new Set<number>();
      for (const x of [a, a + k])
        if (x % PMD_PAGES !== 0 && x > 0 && x < this.npages) pmds.add(x - (x % PMD_PAGES));
      for (const h of pmds) {
        this.lines.notifier(t.tid, t.cpu, this.va(h), this.va(h + PMD_PAGES), NOTIFY.CLEAR);
        this.invalidate(h, h + PMD_PAGES);
      }
    }
    this.lines.notifier(t.tid, t.cpu, this.va(a), this.va(a + k), NOTIFY.PROTECTION_VMA);
    this.invalidate(a, a + k);
    for (let p = a; p < a + k; p++) {
      this.vmaReadOnly[p] = readOnly ? 1 : 0;
      if (this.kind[p] === PRESENT) this.write[p] = readOnly ? 0 : 1;
      else if (this.kind[p] === EXCLUSIVE && readOnly) this.entryWrite[p] = 0;
    }
  }

  /** test_hmm's dmirror_atomic_map: the device maps the call's converted pages. */
  mirrorMap(p: number): void {
    this.mirror[p] = 1;
  }

  /** dmirror_exclusive's unlock of a converted page (its put follows); sleepers retry. */
  unlock(t: Thread, f: Folio): void {
    this.unlockFolio(t, f);
  }

  /** dmirror_do_read over the request: the first page the mirror lacks fails it (-ENOENT). */
  missing(p0: number, n: number): number {
    let k = 0;
    for (let p = p0; p < p0 + n; p++) if (!this.mirror[p]) k++;
    return k;
  }

  // --- fork (kernel/fork.c dup_mmap -> copy_page_range) -----------------------------------------

  /**
   * copy_page_range of the region into a new child, under the parent's mmap_write_lock: the
   * PROTECTION_PAGE notifier over the whole VMA (a COW mapping is write-protected), then every
   * device-exclusive entry restored in the parent first (try_restore_exclusive_pte: trylock,
   * restore_exclusive_pte, unlock; no notifier of its own), and every present page shared
   * read-only on both sides (PageAnonExclusive goes). None of the region's folios is locked here:
   * the driver cannot hold the read lock, and this racer runs with no other locker.
   */
  fork(t: Thread, child: Thread): Child {
    this.lines.copyPageRange(t.tid, t.cpu, this.base, this.va(this.npages));
    this.lines.notifier(t.tid, t.cpu, this.base, this.va(this.npages), NOTIFY.PROTECTION_PAGE);
    this.invalidate(0, this.npages);
    const c: Child = {
      ...child,
      folio: new Array(this.npages).fill(null),
      own: new Uint8Array(this.npages),
    };
    for (let p = 0; p < this.npages; p++) {
      if (this.kind[p] === EXCLUSIVE) {
        const f = this.folio[p]!;
        this.lines.restoreExclusivePte(t.tid, t.cpu, this.va(p), f.pfn);
        this.lines.anonRmapPtes(t.tid, t.cpu, f.pfn, this.va(p));
        this.lines.folioUnlock(t.tid, t.cpu, f.pfn);
        this.kind[p] = PRESENT;
        this.write[p] = this.entryWrite[p];
        f.mapcount++;
      }
      if (this.kind[p] !== PRESENT) continue;
      const f = this.folio[p]!;
      f.anonExclusive = false;
      f.mapcount++;
      this.get(f);
      this.write[p] = 0;
      c.folio[p] = f;
    }
    this.child = c;
    return c;
  }

  /** The child's write to page p (race.c fork_write): COW of the shared page, or a new one. */
  childWrite(c: Child, p: number): void {
    if (c.own[p]) return;
    c.own[p] = 1;
    const f = c.folio[p];
    this.lines.pageFaultUser(c.tid, c.cpu, this.va(p), f ? 0x7 : 0x6);
    if (!f) {
      const nf = this.newFolio();
      nf.mapcount = 1;
      this.lines.pageAlloc(c.tid, c.cpu, nf.pfn);
      this.lines.newAnonRmap(c.tid, c.cpu, nf.pfn, this.va(p));
      c.folio[p] = nf;
      return;
    }
    this.wpFault(c, p, USER_WRITE_FAULT, c);
  }

  /** exit_group in the child: exit_mmap unmaps its copy; pages only it held are freed. */
  childExit(c: Child): void {
    this.lines.exitGroup(c.tid, c.cpu);
    this.lines.childUnmap(c.tid, c.cpu, this.base, this.va(this.npages));
    for (let p = 0; p < this.npages; p++) {
      const f = c.folio[p];
      if (!f) continue;
      f.mapcount--;
      this.put(c, f);
    }
    this.lines.processExit(c.tid, c.cpu);
    if (this.child === c) this.child = null;
  }

  // --- migration (mm/migrate.c: move_pages -> migrate_pages) ------------------------------------

  /**
   * add_folio_for_migration: a present page mapped once is isolated from the LRU (a reference);
   * anything else (a device-exclusive entry, an isolated page) stays, with its status.
   */
  isolateForMigration(p: number): Folio | null {
    if (this.kind[p] !== PRESENT) return null;
    const f = this.folio[p]!;
    if (f.isolated || f.mapcount !== 1 || f.ksm) return null;
    f.isolated = true;
    this.get(f);
    return f;
  }

  /** A migration target page (get_new_folio: alloc_migration_target), locked by its migration. */
  migrationTarget(t: Thread): Folio {
    const d = this.newFolio();
    d.lock = 'migration';
    this.lines.pageAlloc(t.tid, t.cpu, d.pfn, 'migrate');
    return d;
  }

  /** Page p maps folio f (the address a migration, reclaim or ksmd unmaps it from). */
  private mappedAt(f: Folio, p: number): boolean {
    return this.kind[p] === PRESENT && this.folio[p] === f;
  }

  /**
   * migrate_folio_unmap after the lock: try_to_migrate (rmap walk, notifier CLEAR, the PTE becomes
   * a migration entry, the mapping's reference goes). False where the folio was mapped no more
   * (page_was_mapped stays 0: nothing to unmap or restore).
   */
  tryToMigrate(t: Thread, f: Folio, p: number): boolean {
    if (f.mapcount === 0 || !this.mappedAt(f, p)) return false;
    this.lines.tryToMigrate(t.tid, t.cpu, f.pfn, f.refs);
    this.lines.rmapWalk(t.tid, t.cpu, f.pfn, true, 'try_to_migrate_one+0x0/0x455', f.refs);
    this.lines.lockAnonVma(t.tid, t.cpu, f.pfn);
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.CLEAR);
    this.invalidate(p, p + 1);
    // The folio leaves the address here: if a zap takes the entry before the migration puts it
    // back, set_migration_pte is what unmapped it.
    f.unmappedBy = this.lines.setMigrationPte(t.tid, t.cpu, this.va(p), f.pfn);
    this.kind[p] = MIGRATION;
    this.entryWrite[p] = this.write[p];
    f.mapcount--;
    f.refs--;
    return true;
  }

  /**
   * folio_migrate_mapping's reference check: only the isolation's reference may remain (a GUP pin
   * or ksmd's makes it -EAGAIN). On success the content moves to dst.
   */
  migrateFolio(t: Thread, src: Folio, dst: Folio, mode: number): number {
    this.lines.migrateFolio(t.tid, t.cpu, dst.pfn, src.pfn, mode, src.refs);
    const ret = src.refs === 1 && src.mapcount === 0 ? 0 : -11;
    this.lines.migrateFolioReturn(t.tid, t.cpu, ret, dst.pfn, src.pfn);
    return ret;
  }

  /**
   * remove_migration_ptes(src, to): the migration entry at p (if a zap left it) becomes a present
   * PTE of `to` (dst after a move, src after a failure) with the entry's write bit.
   */
  removeMigrationPtes(t: Thread, src: Folio, to: Folio, p: number): void {
    this.lines.removeMigrationPtes(t.tid, t.cpu, src.pfn, to.pfn);
    this.lines.rmapWalk(t.tid, t.cpu, to.pfn, false, 'remove_migration_pte+0x0/0x423', to.refs);
    if (this.kind[p] !== MIGRATION || this.folio[p] !== src) return;
    this.lines.anonRmapPtes(t.tid, t.cpu, to.pfn, this.va(p), 1, -1);
    this.lines.removeMigrationPte(t.tid, t.cpu, this.va(p), to.pfn, this.entryWrite[p] === 1);
    this.kind[p] = PRESENT;
    this.write[p] = this.entryWrite[p];
    this.folio[p] = to;
    to.mapcount++;
    this.get(to);
    if (to !== src) to.anonExclusive = src.anonExclusive;
  }

  /** putback_movable_pages / migrate_folio_done: the isolation's reference goes. */
  putBack(t: Thread, f: Folio): void {
    f.isolated = false;
    f.migrating = false;
    this.put(t, f);
  }

  // --- reclaim (mm/madvise.c MADV_PAGEOUT -> reclaim_pages -> shrink_folio_list) ----------------

  /**
   * madvise_cold_or_pageout_pte_range: the present pages of [a, a + k) mapped by this process only,
   * small, on the LRU, are isolated (a reference each), in address order.
   */
  isolateForPageout(a: number, k: number): [number, Folio][] {
    const out: [number, Folio][] = [];
    for (let p = a; p < a + k; p++) {
      if (this.kind[p] !== PRESENT) continue;
      const f = this.folio[p]!;
      if (f.isolated || f.mapcount !== 1 || f.ksm) continue;
      f.isolated = true;
      this.get(f);
      out.push([p, f]);
    }
    return out;
  }

  /**
   * shrink_folio_list, one folio after its folio_trylock: add_to_swap (a swap-cache reference),
   * then try_to_unmap where it is still mapped (rmap walk, notifier CLEAR, the PTE becomes a swap
   * entry holding the slot, the mapping's reference goes) even while GUP holds a reference
   * (FOLL_GET is no pin).
   */
  reclaimUnmap(t: Thread, f: Folio, p: number, culprit: number): void {
    if (!f.swapSlot) {
      f.swapSlot = this.nextSlot++;
      this.get(f);
    }
    if (!this.mappedAt(f, p)) return;
    this.lines.tryToUnmap(t.tid, t.cpu, f.pfn, f.refs);
    this.lines.rmapWalk(t.tid, t.cpu, f.pfn, true, 'try_to_unmap_one+0x0/0x4ee', f.refs);
    this.lines.lockAnonVma(t.tid, t.cpu, f.pfn);
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.CLEAR);
    this.invalidate(p, p + 1);
    this.kind[p] = SWAP;
    this.entryWrite[p] = f.anonExclusive ? 1 : 0;
    f.anonExclusive = false;
    f.mapcount--;
    f.unmappedBy = culprit;
    f.refs--;
  }

  /**
   * Where the replay applies a MADV_PAGEOUT of [a, a + k): at its first notifier (or its return
   * where none came), every page then present and mapped here only is unmapped at once, though
   * reclaim unmaps each folio at its own try_to_unmap, or not at all (a folio someone holds). Those
   * pages are marked until a zap: meanwhile the replay may map them back with a swap-in the trace
   * does not show (GUP reaching a page it has unmapped), so even the kernel's own unmap later need
   * not bring the two together again.
   */
  pageoutApplied(a: number, k: number): void {
    for (let p = a; p < a + k; p++) {
      const f = this.folio[p];
      if (this.kind[p] === PRESENT && f && f.mapcount === 1 && !f.ksm)
        this.taint[p] ??= 'pageout_batch';
    }
  }

  /**
   * pageout -> swap_writepage: the write starts and the folio is unlocked. The write is
   * asynchronous: the folio is kept (in the swap cache) and put back on the LRU.
   */
  reclaimWrite(t: Thread, f: Folio): void {
    this.lines.swapWritepage(t.tid, t.cpu, f.pfn, f.refs);
    this.unlockFolio(t, f, '0x40000000003040b');
    this.lines.vmscanWriteFolio(t.tid, t.cpu, f.pfn);
  }

  // --- KSM (mm/ksm.c: ksmd) ---------------------------------------------------------------------

  /** get_mergeable_page: a present, anonymous, not yet merged page of the region (ksmd's reference). */
  mergeable(p: number): Folio | null {
    if (this.kind[p] !== PRESENT) return null;
    const f = this.folio[p]!;
    if (f.ksm || f.mapcount !== 1) return null;
    this.get(f);
    return f;
  }

  /**
   * try_to_merge_one_page(vma, page, kpage), after its folio_trylock: write_protect_page starts
   * (its notifier CLEAR, before it looks at the PTE).
   */
  ksmProtectStart(t: Thread, f: Folio, p: number): void {
    this.lines.writeProtectPage(t.tid, t.cpu, f.pfn, f.refs);
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.CLEAR);
    this.invalidate(p, p + 1);
  }

  /**
   * write_protect_page clears the PTE and checks that mapcount + 1 + swapcache are all the
   * folio's references: a GUP reference fails it (the PTE is put back as it was, -EFAULT); else
   * the PTE is read-only and the page shared. Without a KSM page yet, the page becomes one.
   */
  ksmProtect(t: Thread, f: Folio, p: number, kpage: Folio | null): number {
    if (!this.mappedAt(f, p) || f.mapcount + 1 + (f.swapSlot ? 1 : 0) !== f.refs) {
      this.lines.writeProtectPageReturn(t.tid, t.cpu, -14, f.pfn);
      return -14;
    }
    this.write[p] = 0;
    f.anonExclusive = false;
    this.ksmPending[p] = 1;
    this.lines.writeProtectPageReturn(t.tid, t.cpu, 0, f.pfn);
    if (!kpage) f.ksm = true;
    return 0;
  }

  /**
   * replace_page: where the PTE still maps the write-protected page (pte_same), the KSM page is
   * mapped there instead, read-only (notifier CLEAR, its rmap added), and the page loses its
   * mapping (ksmd's own reference keeps it until ksmd puts it).
   */
  ksmReplace(t: Thread, f: Folio, p: number, k: Folio): number {
    if (!this.mappedAt(f, p) || this.write[p]) return -14;
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.CLEAR);
    this.invalidate(p, p + 1);
    this.lines.anonRmapPtes(t.tid, t.cpu, k.pfn, this.va(p), 0, k.mapcount - 1);
    k.mapcount++;
    this.get(k);
    this.folio[p] = k;
    f.mapcount--;
    this.put(t, f);
    return 0;
  }
}
