// The generator's own kernel: the true state of the racing process's anonymous region and of
// test_hmm's device page table, changed by each simulated operation as Linux 6.12 changes it
// (mm/memory.c, mm/rmap.c, lib/test_hmm.c; see ../../shared/reference/device-exclusive.md and
// facts.md). It is the ground truth; the replay (src/replay/) never sees it, only the lines.
import { NOTIFY, type Lines } from './lines.js';

export const PAGE = 4096;
/** Fault flags of a user write fault under the per-VMA lock, and of GUP's (FOLL_WRITE, remote). */
const USER_WRITE_FAULT = 0x1a55;
const GUP_FAULT = 0x881;

export interface Folio {
  pfn: number;
  /** Mapped by a present PTE (one mm, so mapcount is 0 or 1). */
  mapped: boolean;
  /** Held by make_device_exclusive_range from a successful walk until test_hmm unlocks it. */
  locked: boolean;
  /** Line of the syscall that last unmapped it (the culprit of a replaced page). */
  unmappedBy: number;
  /** CPU faults sleeping in folio_lock_or_retry until the unlock. */
  waiters: (() => void)[];
}

export interface Thread {
  tid: number;
  cpu: number;
}

/** Pages per PMD (2 MiB); the region starts on a PMD boundary. */
const PMD_PAGES = 512;
const NONE = 0;
const PRESENT = 1;
const EXCLUSIVE = 2;

/** One anonymous, private, writable mapping (the race program's region) and the device mirror. */
export class Region {
  readonly kind: Uint8Array;
  readonly folio: (Folio | null)[];
  /** test_hmm's device page table (dmirror->pt) over the region's page indices (+1 past the end). */
  readonly mirror: Uint8Array;
  /** A present PTE's write bit; a device-exclusive entry's (writable or readable entry). */
  readonly write: Uint8Array;
  readonly entryWrite: Uint8Array;
  /** Line of the UFFDIO_WRITEPROTECT (its uffd_wp_range) that last made the PTE read-only. */
  readonly protectedBy: Float64Array;
  /** The page's VMA is read-only (an mprotect(PROT_READ) split it off). */
  readonly vmaReadOnly: Uint8Array;
  private nextPfn = 0x10000;

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

  /**
   * mmu_notifier_invalidate_range_start over pages [s, e): test_hmm's dmirror_interval_invalidate
   * -> dmirror_do_update erases xa_for_each_range(start >> PAGE_SHIFT, end >> PAGE_SHIFT), whose
   * last index is inclusive: page e goes too.
   */
  private invalidate(s: number, e: number): void {
    for (let p = s; p <= e && p < this.mirror.length; p++) this.mirror[p] = 0;
  }

  /** do_anonymous_page: a new zeroed page, mapped writable (its lines: fault, alloc, rmap). */
  private newPage(t: Thread, p: number): Folio {
    const f: Folio = {
      pfn: this.nextPfn++,
      mapped: true,
      locked: false,
      unmappedBy: 0,
      waiters: [],
    };
    this.lines.pageAlloc(t.tid, t.cpu, f.pfn);
    this.lines.newAnonRmap(t.tid, t.cpu, f.pfn, this.va(p));
    this.kind[p] = PRESENT;
    this.write[p] = 1;
    this.folio[p] = f;
    return f;
  }

  /**
   * remove_device_exclusive_entry -> restore_exclusive_pte (6.12 mm/memory.c): notifier EXCLUSIVE
   * with owner NULL, then a present writable PTE again and the rmap re-added.
   */
  private restore(t: Thread, p: number): void {
    const f = this.folio[p]!;
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.EXCLUSIVE);
    this.invalidate(p, p + 1);
    this.lines.restoreExclusivePte(t.tid, t.cpu, this.va(p), f.pfn);
    this.lines.anonRmapPtes(t.tid, t.cpu, f.pfn, this.va(p));
    this.kind[p] = PRESENT;
    this.write[p] = this.entryWrite[p];
    f.mapped = true;
  }

  /**
   * A write fault on a read-only present PTE of an exclusive anonymous page: do_wp_page reuses it
   * (after clearing uffd-wp: the region is registered with UFFD_FEATURE_WP_ASYNC).
   */
  private wpReuse(t: Thread, p: number, faultFlags: number): void {
    this.lines.doWpPage(t.tid, t.cpu, this.va(p), faultFlags);
    this.write[p] = 1;
  }

  /** The prefault and the racers' writes: a user write fault, or nothing on a writable page. */
  userWrite(t: Thread, p: number): 'done' | Folio {
    // A present page: writable, or write-protected by userfaultfd, whose fault (WP_ASYNC) the
    // generator does not simulate: the write is left out.
    if (this.kind[p] === PRESENT) return 'done';
    // A write to a read-only VMA is a SIGSEGV the race program would die of: left out.
    if (this.vmaReadOnly[p]) return 'done';
    this.lines.pageFaultUser(t.tid, t.cpu, this.va(p), 0x6);
    if (this.kind[p] === NONE) {
      this.newPage(t, p);
      return 'done';
    }
    // A device-exclusive entry: do_swap_page; while the converting call holds the folio lock the
    // fault sleeps (folio_lock_or_retry -> VM_FAULT_RETRY) and retries once it is unlocked.
    const f = this.folio[p]!;
    this.lines.doSwapPage(t.tid, t.cpu, this.va(p), USER_WRITE_FAULT, f.pfn);
    if (f.locked) return f;
    this.restore(t, p);
    if (!this.write[p]) this.wpReuse(t, p, USER_WRITE_FAULT);
    return 'done';
  }

  /**
   * The retried fault after the folio was unlocked. Where another racer zapped the page meanwhile
   * the retry maps a new one; its page_fault_user line is the generator's (the kernel retries
   * within the same exception), so that a replay sees the fault it needs.
   */
  userWriteRetry(t: Thread, p: number): void {
    if (this.kind[p] === EXCLUSIVE) {
      this.lines.doSwapPage(t.tid, t.cpu, this.va(p), USER_WRITE_FAULT, this.folio[p]!.pfn);
      this.restore(t, p);
      if (!this.write[p]) this.wpReuse(t, p, USER_WRITE_FAULT);
    } else if (this.kind[p] === NONE) {
      this.lines.pageFaultUser(t.tid, t.cpu, this.va(p), 0x6);
      this.newPage(t, p);
    }
  }

  /**
   * MADV_DONTNEED over pages [a, a + k) (zap_page_range_single -> zap_pte_range): the notifier
   * (CLEAR), then every PTE and device-exclusive entry goes; a page GUP pinned survives on its
   * reference, unmapped.
   */
  zap(t: Thread, a: number, k: number, culprit: number): void {
    this.lines.notifier(t.tid, t.cpu, this.va(a), this.va(a + k), NOTIFY.CLEAR);
    this.invalidate(a, a + k);
    this.lines.unmapPageRange(t.tid, t.cpu, this.va(a), this.va(a + k));
    for (let p = a; p < a + k; p++) {
      const f = this.folio[p];
      if (f && this.kind[p] === PRESENT) {
        f.mapped = false;
        f.unmappedBy = culprit;
      }
      this.kind[p] = NONE;
      this.folio[p] = null;
    }
  }

  /**
   * One page of get_user_pages_remote(FOLL_GET | FOLL_WRITE): fault in what is missing
   * (handle_mm_fault, no page_fault_user), restore a device-exclusive entry, take a reference.
   */
  gupPin(t: Thread, p: number): Folio {
    if (this.kind[p] === NONE) return this.newPage(t, p);
    if (this.kind[p] === EXCLUSIVE) {
      this.lines.doSwapPage(t.tid, t.cpu, this.va(p), GUP_FAULT, this.folio[p]!.pfn);
      this.restore(t, p);
    }
    // FOLL_WRITE on a read-only PTE: faultin_page -> handle_mm_fault(FAULT_FLAG_WRITE).
    if (!this.write[p]) this.wpReuse(t, p, GUP_FAULT);
    return this.folio[p]!;
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
   * make_device_exclusive_range's per-page step after GUP (6.12 mm/rmap.c): folio_trylock, then
   * folio_make_device_exclusive's rmap walk, which converts the folio's mapping, if any, into a
   * device-exclusive entry. The page succeeds only if that mapping was the expected address,
   * writable (`valid`), and none remains. On success the folio stays locked.
   */
  walk(
    t: Thread,
    p: number,
    f: Folio,
  ): { ok: boolean; cause: 'exclusive' | 'replaced' | 'write_protected'; culprit: number } {
    const mapped = f.mapped && this.folio[p] === f && this.kind[p] === PRESENT;
    this.lines.rmapWalk(t.tid, t.cpu, f.pfn, f.mapped);
    this.lines.lockAnonVmaReturn(t.tid, t.cpu, f.pfn, f.mapped);
    if (!mapped) return { ok: false, cause: 'replaced', culprit: f.unmappedBy };
    this.lines.exclusiveOne(t.tid, t.cpu, f.pfn, this.va(p));
    this.lines.notifier(t.tid, t.cpu, this.va(p), this.va(p + 1), NOTIFY.EXCLUSIVE);
    this.invalidate(p, p + 1);
    // The entry is writable or readable by the old PTE; only a writable one sets `valid`.
    const valid = this.write[p] === 1;
    this.kind[p] = EXCLUSIVE;
    this.entryWrite[p] = this.write[p];
    f.mapped = false;
    this.lines.exclusiveOneReturn(t.tid, t.cpu, f.pfn, this.va(p), valid);
    if (!valid) return { ok: false, cause: 'write_protected', culprit: this.protectedBy[p] };
    f.locked = true;
    return { ok: true, cause: 'exclusive', culprit: 0 };
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

  /** dmirror_exclusive's unlock and put of a converted page; sleeping faults retry. */
  unlock(t: Thread, f: Folio): void {
    this.lines.folioUnlock(t.tid, t.cpu, f.pfn);
    f.locked = false;
    const w = f.waiters;
    f.waiters = [];
    for (const wake of w) wake();
  }

  /** dmirror_do_read over the request: the first page the mirror lacks fails it (-ENOENT). */
  missing(p0: number, n: number): number {
    let k = 0;
    for (let p = p0; p < p0 + n; p++) if (!this.mirror[p]) k++;
    return k;
  }
}
