// Page faults (mm/memory.c handle_mm_fault): a fault is settled once its task moves on, with the
// allocations and page-table pages the trace showed inside it; GUP's faults come from the model.
import type { Adapter } from '../adapter.js';
import { do_huge_pmd_anonymous_page, thp_eligible } from '../huge_memory.js';
import { forget_guessed_pte, map_unseen_file_page } from '../filemap.js';
import { find_vma, insertVma, touchVma } from '../vma.js';
import { do_anonymous_page, do_fault, do_wp_page, type FaultEvidence } from '../memory.js';
import { LEVEL_NAMES } from '../pgtable.js';
import { do_swap_page } from '../swap.js';
import { collapse_huge_page } from '../khugepaged.js';
import { HPAGE_PMD_SIZE, PAGE_SIZE, type Mm, type Pte, type Task, type Vma } from '../types.js';

import {
  ReplayEvent,
  PendingFault,
  FAULT_FLAG_USER,
  FAULT_FLAG_REMOTE,
  X86_PF_PROT,
  X86_PF_WRITE,
  USER_VA_END,
} from './events.js';
import { check_sync_rss_stat, uncertain } from './rss.js';

/**
 * A task took its mm's mmap_lock for writing (fork's dup_mmap, munmap, mprotect): faults of other
 * tasks in that mm which held the lock (read, or the VMA lock the writer also waits for) ended
 * before, though their task's next event, which ends them in the replay, may come much later.
 * The same holds per VMA for fork's copy_page_range (dup_mmap write-locks each VMA, 6.4+): a fault
 * under the VMA lock can run while fork copies the VMAs before its own.
 */
export function finishLockHolders(ad: Adapter, e: ReplayEvent, start = 0, end = Infinity): void {
  const mm = ad.m.tasks.get(e.tid)?.mm;
  if (!mm) return;
  for (const p of ad.pending.values()) {
    if (p.holdsLock && p.task.tid !== e.tid && p.task.mm === mm && p.va >= start && p.va < end)
      finishFault(ad, p, null);
  }
}

/**
 * do_wp_page entered with neither FAULT_FLAG_USER nor FAULT_FLAG_REMOTE is a kernel-mode write to
 * user memory (test_hmm's copy_to_user of its bounce buffer, put_user): the fault page_fault_kernel
 * would show, replayed as one (present, write) when that event is not traced. It cannot belong to a
 * pending user fault, nor to an earlier kernel-mode one (a reuse shows nothing the replay reads, so
 * that one is still pending): those end first. GUP's (REMOTE) are the device-exclusive model's.
 */
export function kernelWpFault(ad: Adapter, e: ReplayEvent, pf: PendingFault | undefined): void {
  const { address, flags } = e;
  const kernelMode = flags !== null && (flags & (FAULT_FLAG_USER | FAULT_FLAG_REMOTE)) === 0;
  if (ad.opts.kernelFaultsTraced || !kernelMode || address === null || address >= USER_VA_END) {
    if (pf) pf.holdsLock = true;
    return;
  }
  if (pf) finishFault(ad, pf, e);
  const t = ad.task(e);
  check_sync_rss_stat(ad, t);
  ad.pending.set({
    task: t,
    va: address,
    errorCode: X86_PF_PROT | X86_PF_WRITE,
    eventId: e.id,
    ev: { allocs: [], allocsTraced: ad.opts.allocsTraced, pgtables: 0 },
    backedOut: false,
    holdsLock: true,
  });
}

export function finishFault(ad: Adapter, pf: PendingFault, next: ReplayEvent | null): void {
  ad.pending.delete(pf);
  const m = ad.m;
  const mm = pf.task.mm;
  if (!mm) return;
  if (pf.backedOut && !pf.ev.allocs.length) return;
  const known = ad.opts.allocsTraced ? pgtablesKnown(ad, mm, pf.va) : null;
  const tablesBefore = m.pgtableAllocs;
  // Without split counting the fault counts in the mm at once: no closure to make per fault.
  if (!m.k.splitRssCounting) handle_mm_fault(ad, pf, mm, next);
  else add_mm_counter_fast(ad, pf.task, mm, () => handle_mm_fault(ad, pf, mm, next));
  if (known !== null) {
    const model = m.pgtableAllocs - tablesBefore;
    const match = known === true ? model === pf.ev.pgtables : null;
    ad.out.pgtable({
      eventId: pf.eventId,
      mm: mm.id,
      va: pf.va,
      kernel: pf.ev.pgtables,
      model,
      match,
      note: known === true ? null : `not checkable: ${known}`,
    });
  }
}

/**
 * 6.1 SPLIT_RSS_COUNTING: the counts a fault in the task's own mm makes go to the task's cache
 * (add_mm_counter_fast) until the next sync_mm_rss; 6.2+ count in the mm at once.
 */
export function add_mm_counter_fast(ad: Adapter, t: Task, mm: Mm, fault: () => void): void {
  if (!ad.m.k.splitRssCounting || t.mm !== mm) return fault();
  const before = [...mm.rss];
  try {
    fault();
  } finally {
    for (let i = 0; i < 4; i++) {
      t.rssCache[i] += mm.rss[i] - before[i];
      mm.rss[i] = before[i];
    }
  }
}

/**
 * Whether the model knows which page-table pages over va exist: those it has are certain; one it
 * lacks is known absent only in an mm built in the trace, over a span no VMA the model first met
 * at a fault reaches (exec's ELF loader and argument copy fill those without fault events).
 */
export function pgtablesKnown(ad: Adapter, mm: Mm, va: number): true | string {
  const geo = ad.m.geo;
  for (let l = 0; l < geo.spans.length; l++) {
    const span = geo.spans[l];
    const key = Math.floor(va / span);
    if (mm.pgtables[l].has(key)) return true;
    if (mm.pgtablesFromStart === false) return 'page tables made before the trace';
    const lo = key * span;
    const hi = lo + span;
    if (!mm.vmas.some((v) => v.start <= va && v.end > va))
      return `a ${LEVEL_NAMES[l]} table over a VMA not seen created`;
    if (mm.vmas.some((v) => v.preTrace && v.start < hi && v.end > lo))
      return `a ${LEVEL_NAMES[l]} table shared with a VMA not seen created`;
  }
  return true;
}

export function handle_mm_fault(
  ad: Adapter,
  pf: PendingFault,
  mm: Mm,
  next: ReplayEvent | null,
): void {
  const m = ad.m;
  const savedNow = m.now;
  const savedEventId = m.eventId;
  m.eventId = pf.eventId;
  // Math.trunc, not %: a user address is a double, and % on one is a call to fmod.
  const va = Math.trunc(pf.va / PAGE_SIZE) * PAGE_SIZE;
  const write = (pf.errorCode & X86_PF_WRITE) !== 0;
  const protection = (pf.errorCode & X86_PF_PROT) !== 0;
  let vma = find_vma(mm, va);
  if (!vma) vma = vmaOnFirstSight(ad, mm, va, next);
  // A write fault a VMA the model never saw created did not SIGSEGV on proves it writable
  // (a private file mapping's data, written copy-on-write).
  if (vma.preTrace && write && !vma.write) {
    touchVma(m, mm, vma);
    vma.write = true;
  }
  let pte = m.pte(mm, va);
  if (pte?.kind === 'present' && !protection && pte.confidence === 'unknown') {
    // A not-present fault on a page the model only guessed present (a fault-around neighbour):
    // the guess was wrong; drop it and take the fault.
    forget_guessed_pte(m, mm, va);
    pte = undefined;
  }
  if (protection && write && (!pte || pte.kind === 'none') && vma.file !== null && !vma.shared) {
    pte = map_unseen_file_page(m, ad.cache, mm, vma, va);
  }
  if (pte?.kind === 'present') {
    if (write && !pte.write) do_wp_page(m, mm, vma, va, pte, pf.ev);
    // else: spurious (another thread got there first) or a permission fault the model cannot see.
  } else if (pte && pte.kind !== 'none') {
    swapFault(ad, mm, vma, va, pte, write, pf.ev, true);
  } else if (vma.file !== null) {
    // do_read_fault maps the neighbours already in the page cache (fault-around); which those
    // are is not in the trace, so the count ad fault adds cannot be checked.
    if (!write)
      uncertain(
        ad,
        mm,
        pf.task.tid,
        vma.preTrace
          ? 'fault-around in a file VMA mapped before the trace (extent and page cache unknown)'
          : 'fault-around maps the neighbouring pages already in the page cache, which the trace does not show',
      );
    do_fault(m, ad.cache, mm, vma, va, write, pf.ev);
  } else if (
    pf.ev.allocs.some((a) => a.order === 9) ||
    (!ad.opts.allocsTraced && write && thp_eligible(vma, va, ad.opts.thp))
  ) {
    do_huge_pmd_anonymous_page(m, mm, vma, va, write, pf.ev);
  } else {
    do_anonymous_page(
      m,
      mm,
      vma,
      va,
      write || (pf.ev.allocsTraced && pf.ev.allocs.length > 0),
      pf.ev,
    );
  }
  m.now = savedNow;
  m.eventId = savedEventId;
}

/** A fault on a non-present entry (do_swap_page): swap-in, or a device-exclusive entry restored. */
export function swapFault(
  ad: Adapter,
  mm: Mm,
  vma: Vma,
  va: number,
  pte: Pte,
  write: boolean,
  ev: FaultEvidence | null = null,
  cpu = false,
): void {
  if (pte.kind === 'swap') do_swap_page(ad.m, ad.m.k, mm, vma, va, pte, write, ev);
  else ad.dx?.swapFault(mm, vma, va, pte, write, cpu);
}

/**
 * handle_mm_fault as GUP's faultin_page calls it: no page_fault_user. Where the trace shows
 * whether the fault mapped a new anonymous page (newAnon), that settles do_wp_page's copy or reuse.
 */
export function gupFault(
  ad: Adapter,
  task: Task,
  vma: Vma,
  va: number,
  write: boolean,
  newAnon: boolean | null,
): void {
  check_sync_rss_stat(ad, task);
  add_mm_counter_fast(ad, task, task.mm!, () =>
    gupHandleMmFault(ad, task, vma, va, write, newAnon),
  );
}

export function gupHandleMmFault(
  ad: Adapter,
  task: Task,
  vma: Vma,
  va: number,
  write: boolean,
  newAnon: boolean | null,
): void {
  const mm = task.mm!;
  const pte = ad.m.pte(mm, va);
  if (pte?.kind === 'present') {
    if (write && !pte.write)
      do_wp_page(
        ad.m,
        mm,
        vma,
        va,
        pte,
        newAnon === null ? null : { allocs: [], allocsTraced: true, pgtables: 0, newAnon },
      );
  } else if (pte && pte.kind !== 'none') swapFault(ad, mm, vma, va, pte, write);
  else if (vma.file !== null) do_fault(ad.m, ad.cache, mm, vma, va, write, null);
  else {
    const pfn = ad.dx?.takeRmapAhead(mm, va);
    do_anonymous_page(
      ad.m,
      mm,
      vma,
      va,
      write,
      pfn === undefined ? null : { allocs: [{ pfn, order: 0 }], allocsTraced: true, pgtables: 0 },
    );
  }
}

/**
 * A fault outside every VMA the model knows: the mapping predates the trace (or came from exec's
 * ELF loader, which makes no mmap calls). Rule: an anonymous private read-write VMA of one page,
 * unless the rss_stat that ends the fault counts a file page.
 */
export function vmaOnFirstSight(ad: Adapter, mm: Mm, va: number, next: ReplayEvent | null): Vma {
  const fileBacked = next?.event === 'kmem:rss_stat' && next.member === 0;
  // A file mapping is assumed to span the fault-around window (16 pages), clipped by neighbours.
  let start = va;
  let end = va + PAGE_SIZE;
  if (fileBacked) {
    const win = 16 * PAGE_SIZE;
    start = va - (va % win);
    end = start + win;
    for (const v of mm.vmas) {
      if (v.end <= va && v.end > start) start = v.end;
      if (v.start > va && v.start < end) end = v.start;
    }
  }
  const vma = ad.m.newVma({
    start,
    end,
    read: true,
    write: !fileBacked,
    exec: false,
    shared: false,
    file: fileBacked ? `pre-trace:${mm.id}:${va.toString(16)}` : null,
    pgoff: 0,
    growsdown: false,
    hugepage: 'default',
    mergeable: false,
    dontfork: false,
    preTrace: true,
  });
  insertVma(ad.m, mm, vma);
  return vma;
}

/**
 * A collapse has cleared the PMD and isolated the pages when mm_collapse_huge_page_isolate fires;
 * the copy frees them next and mm_collapse_huge_page only closes the story. Neither names mm
 * (hashed) nor address: the scanned page does, through its rmap, and the THP allocated before
 * is the new folio.
 */
export function collapseHugePage(ad: Adapter, e: ReplayEvent): void {
  const c = ad.collapse.get(e.tid);
  ad.collapse.delete(e.tid);
  if (e.status_name !== 'succeeded' || !c) return;
  const scanPfn = e.pfn!;
  const old = ad.m.byPfn.get(scanPfn);
  const at = old && !old.freed ? [...old.rmap.values()][0] : undefined;
  if (!at) {
    ad.m.sink.violation(
      'collapse_unplaced',
      `mm_collapse_huge_page_isolate: pfn 0x${scanPfn.toString(16)} is mapped nowhere the model knows`,
      ad.m.label(old?.preTrace ?? true),
    );
    return;
  }
  const mm = ad.m.mms[at.mm];
  const haddr = at.va - (at.va % HPAGE_PMD_SIZE);
  const vma = find_vma(mm, haddr);
  if (vma) collapse_huge_page(ad.m, mm, vma, haddr, c.pfn);
}
