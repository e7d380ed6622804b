// The tables the replay appends to, each with its columns in the order of its CREATE TABLE
// (src/store/sql/replay.sql, exclusive.sql). The writers in output.ts name every value by these
// columns, and test/output-columns.test.ts fails when this order and the SQL's disagree.
import type { Value } from '../store/row-builder.js';

// prettier-ignore
export const COLUMNS = {
  tasks: ['file_id', 'tid', 'tgid', 'mm', 'comm', 'first_ts', 'last_ts', 'pre_trace'],
  mm: ['file_id', 'mm', 'tgid', 'mm_id', 'first_ts', 'pre_trace'],
  vma_intervals: ['file_id', 'ts', 'dur', 'mm', 'vma', 'start_va', 'end_va', 'prot', 'shared',
    'file', 'pgoff', 'hugepage', 'anon_vma', 'pre_trace'],
  pte_intervals: ['file_id', 'ts', 'dur', 'mm', 'va', 'kind', 'pfn', 'folio', 'write', 'dirty',
    'soft_dirty', 'uffd_wp', 'pmd', 'zero_page', 'source_event', 'confidence'],
  folio_intervals: ['file_id', 'ts', 'dur', 'folio', 'pfn', 'pfn_confidence', 'order', 'anon',
    'refcount', 'mapcount', 'entire_mapcount', 'pincount', 'locked', 'anon_exclusive', 'lru',
    'freed', 'source_event'],
  rss_check: ['file_id', 'event_id', 'ts', 'mm', 'member', 'kernel_value', 'model_value', 'match',
    'note'],
  pgtable_check: ['file_id', 'event_id', 'mm', 'va', 'kernel_tables', 'model_tables', 'match',
    'note'],
  invariant_violations: ['file_id', 'event_id', 'ts', 'rule', 'explanation', 'label', 'design'],
  pagemap_check: ['file_id', 'event_id', 'ts', 'label', 'pid', 'mm', 'va', 'kernel_state',
    'kernel_pfn', 'kernel_flags', 'model_state', 'model_pfn', 'confidence', 'present_match',
    'pfn_match'],
  exclusive_requests: ['file_id', 'design', 'request_id', 'ts', 'dur', 'tid', 'mm', 'start_va',
    'npages', 'predicted_result', 'observed_result', 'calls', 'failed_pages', 'enoent_pages',
    'note'],
  exclusive_calls: ['file_id', 'design', 'call_id', 'request_id', 'ts', 'dur', 'start_va', 'npages',
    'gup_count', 'result', 'failed_pages', 'observed_result', 'observed_failed_pages',
    'walk_timing'],
  exclusive_pages: ['file_id', 'design', 'call_id', 'idx', 'address', 'gup_pfn', 'outcome', 'cause',
    'culprit_event', 'culprit_tid', 'culprit_ts', 'window_ns', 'walk_ts', 'pin_ts', 'pin_lo',
    'pin_hi', 'observed_outcome'],
} as const;

export type Table = keyof typeof COLUMNS;
type Column<T extends Table> = (typeof COLUMNS)[T][number];

/** A whole row of table T: every column named once (the compiler refuses a missing or unknown one). */
export type Row<T extends Table> = Record<Column<T>, Value>;

/** Column name to position, for the busiest writers, which set columns in place (no row object). */
export function positions<T extends Table>(t: T): Readonly<Record<Column<T>, number>> {
  return Object.fromEntries(COLUMNS[t].map((c, i) => [c, i])) as Record<Column<T>, number>;
}
