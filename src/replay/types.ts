// The model's objects, named after the kernel's: mm_struct, vm_area_struct, folio, PTE.
import type { PteTable } from './pte_table.js';
import type { Rmap } from './rmap.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const HPAGE_PMD_NR = 512;
export const HPAGE_PMD_SIZE = PAGE_SIZE * HPAGE_PMD_NR;

/** How the model knows a value: seen in an event, derived by a written rule, or not known. */
export type Confidence = 'observed' | 'inferred' | 'unknown';

export type PteKind =
  | 'none'
  | 'present'
  | 'swap'
  | 'migration'
  | 'device_private'
  | 'device_exclusive'
  | 'hwpoison'
  | 'marker';

/** include/linux/mm_types.h NR_MM_COUNTERS, in rss_stat's member order. */
export const MM_FILEPAGES = 0;
export const MM_ANONPAGES = 1;
export const MM_SWAPENTS = 2;
export const MM_SHMEMPAGES = 3;
export const RSS_MEMBERS = [
  'MM_FILEPAGES',
  'MM_ANONPAGES',
  'MM_SWAPENTS',
  'MM_SHMEMPAGES',
] as const;

export interface Folio {
  id: number;
  /** Known PFN, or null (zero page of an unknown PFN, or an allocation the trace did not show). */
  pfn: number | null;
  pfnConfidence: Confidence;
  order: number;
  anon: boolean;
  /** shmem / shared anonymous memory (counts as MM_SHMEMPAGES). */
  shmem: boolean;
  zero: boolean;
  refcount: number;
  /** Sum of per-page PTE mappings (a PMD mapping counts in entireMapcount). */
  mapcount: number;
  entireMapcount: number;
  pincount: number;
  locked: boolean;
  /** PageAnonExclusive (of the head page; the model tracks it per folio). */
  anonExclusive: boolean;
  lru: boolean;
  dirty: boolean;
  freed: boolean;
  preTrace: boolean;
  /** A KSM page (PageKsm): shared by ksmd, never reused by a write fault. */
  ksm: boolean;
  /** Its swap slot while it is in the swap cache (PG_swapcache), else null. */
  swapSlot: number | null;
  /** Where it is mapped: mm id and address of each PTE (rmap; the anon_vma chain finds these). */
  rmap: Rmap;
  /** Which event last removed each mapping (the culprit when a pinned page is found replaced).
   *  Written only by Model.rmap_remove: until then it is a shared empty map. */
  unmapped: Map<number | string, { eventId: number; ts: bigint; tid: number }>;
  /** Open interval bookkeeping. */
  since: bigint;
  sinceEvent: number;
  /** In Model.touchedFolios (the current event changed it). */
  touched: boolean;
}

export interface Pte {
  kind: PteKind;
  folio: Folio | null;
  write: boolean;
  dirty: boolean;
  accessed: boolean;
  softDirty: boolean;
  uffdWp: boolean;
  /** PMD-mapped THP (the entry stands for HPAGE_PMD_NR pages). */
  pmd: boolean;
  /** Index of this page within its folio. */
  index: number;
  confidence: Confidence;
  /** For swap-type entries: migration read/write/read_exclusive, device read/write; for a swap
   *  entry, pte_swp_exclusive. */
  entryWrite: boolean;
  /** A swap entry's slot (swap.ts). */
  swapSlot?: number;
  since: bigint;
  sinceEvent: number;
  preTrace: boolean;
}

export interface Vma {
  start: number;
  end: number;
  read: boolean;
  write: boolean;
  exec: boolean;
  shared: boolean;
  /** null for anonymous memory; else an identity for the file (per process fd and mmap call). */
  file: string | null;
  pgoff: number;
  growsdown: boolean;
  hugepage: 'default' | 'hugepage' | 'nohugepage';
  mergeable: boolean;
  dontfork: boolean;
  anonVma: number | null;
  preTrace: boolean;
  id: number;
  since: bigint;
}

export interface Mm {
  id: number;
  /** rss_stat's mm_id (a hash of the mm pointer in tracefs), once bound. */
  mmId: number | null;
  vmas: Vma[];
  /** Keyed by virtual page number. */
  ptes: PteTable;
  /** Page-table pages that exist, per level below the PGD (pte, pmd, pud[, p4d]), keyed by
   *  va / span (pgtable.ts). Before the trace they are unknown: pre-trace mms start empty. */
  pgtables: Set<number>[];
  /** False when the mm predates the trace: tables the model lacks may exist. */
  pgtablesFromStart: boolean;
  rss: number[];
  /** True once a kernel rss_stat fixed the counter's starting value. */
  rssKnown: boolean[];
  /** Counter values the kernel will report next, in order, for bulk operations (fork, zap, exit)
   *  that emit one rss_stat per page-table batch. */
  rssTrajectory: number[][];
  /** Counters as of the last batch point. */
  rssFlushed: number[];
  users: number;
  /** exit_group was called: exit_mmap follows when the last user goes. */
  exiting: boolean;
  /** A bulk operation (fork copy, zap, exit) is running over memory the model never saw
   *  (pre-trace VMAs): its rss_stat rows cannot be checked. Ends at the task's next other event. */
  uncertain: { tid: number; why: string } | null;
  /** The folio last unmapped at each address, and when: what a GUP that passed the address
   *  earlier than the model placed it would have pinned. */
  lastUnmapped: Map<number, { folio: Folio; ts: bigint }>;
  preTrace: boolean;
  brk: number | null;
  start: bigint;
  tgid: number;
  dead: boolean;
}

export interface Task {
  tid: number;
  tgid: number;
  mm: Mm | null;
  comm: string;
  first: bigint;
  last: bigint;
  preTrace: boolean;
  exited: boolean;
  /** 6.1 SPLIT_RSS_COUNTING: counts the fault path keeps per task until sync_mm_rss. */
  rssCache: number[];
  rssEvents: number;
  /** exec_mmap has run (the old mm's teardown showed) before sched_process_exec. */
  execMapped?: boolean;
}
