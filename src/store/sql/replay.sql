-- Tables written by `mmreplay replay`: the reconstructed state as Perfetto-style interval tables
-- (`ts` start, `dur` length in ns; an interval still open at the end of the trace runs to its end).
DROP TABLE IF EXISTS replay_runs; DROP TABLE IF EXISTS tasks; DROP TABLE IF EXISTS mm;
DROP TABLE IF EXISTS vma_intervals; DROP TABLE IF EXISTS pte_intervals; DROP TABLE IF EXISTS folio_intervals;
DROP TABLE IF EXISTS rss_check; DROP TABLE IF EXISTS pgtable_check; DROP TABLE IF EXISTS invariant_violations; DROP TABLE IF EXISTS pagemap_check;

-- One row per replayed file.
CREATE TABLE replay_runs (
  file_id INTEGER,
  kernel VARCHAR,          -- kernel semantics replayed: 6.1 | 6.12 | 6.18
  design VARCHAR,          -- device-exclusive design of the full replay: v8 | 5.14 | 6.15
  levels INTEGER,          -- paging levels modelled: 4, or 5 (LA57)
  events BIGINT,           -- events replayed
  seconds DOUBLE,          -- wall time of the replay
  first_ts BIGINT,
  last_ts BIGINT
);

-- Every task the trace shows.
CREATE TABLE tasks (
  file_id INTEGER,
  tid INTEGER,
  tgid INTEGER,            -- from task_newtask (CLONE_THREAD) or the trace's tgid column; else tid
  mm INTEGER,              -- mm.mm of its address space at the end (NULL for kernel threads)
  comm VARCHAR,
  first_ts BIGINT,
  last_ts BIGINT,
  pre_trace BOOLEAN        -- existed before the trace began (not seen created)
);

-- Address spaces (struct mm_struct).
CREATE TABLE mm (
  file_id INTEGER,
  mm INTEGER,              -- the model's id, used by every other table
  tgid INTEGER,            -- process that owns it
  mm_id BIGINT,            -- rss_stat's mm_id (hashed mm pointer) once bound
  first_ts BIGINT,
  pre_trace BOOLEAN
);

-- VMAs over time: one row per state of a VMA.
CREATE TABLE vma_intervals (
  file_id INTEGER, ts BIGINT, dur BIGINT,
  mm INTEGER,
  vma INTEGER,             -- VMA id (a split keeps the left part's id)
  start_va BIGINT, end_va BIGINT,
  prot VARCHAR,            -- rwx letters, '-' where absent
  shared BOOLEAN,
  file VARCHAR,            -- NULL for anonymous; shmem:... for shared anonymous; file:TGID:fdN:SEQ
  pgoff BIGINT,
  hugepage VARCHAR,        -- default | hugepage | nohugepage (MADV_[NO]HUGEPAGE)
  anon_vma INTEGER,        -- anon_vma identity (a fork's child gets its own)
  pre_trace BOOLEAN        -- not seen created (before the trace, or exec's ELF loader)
);

-- Page-table entries over time, one row per state of the entry at (mm, va).
CREATE TABLE pte_intervals (
  file_id INTEGER, ts BIGINT, dur BIGINT,
  mm INTEGER,
  va BIGINT,               -- page address
  kind ENUM('none', 'present', 'swap', 'migration', 'device_private', 'device_exclusive', 'hwpoison', 'marker'),
  pfn BIGINT,              -- page frame (folio pfn + index), NULL when not known
  folio INTEGER,           -- folio_intervals.folio
  write BOOLEAN,           -- writable (for swap-type entries: the entry's write flavour)
  dirty BOOLEAN,
  soft_dirty BOOLEAN,
  uffd_wp BOOLEAN,
  pmd BOOLEAN,             -- mapped by a PMD (THP)
  zero_page BOOLEAN,       -- maps the shared zero page
  source_event BIGINT,     -- events.id of the event that installed it
  confidence ENUM('observed', 'inferred', 'unknown') -- how the model knows the pfn
);

-- Folios over time.
CREATE TABLE folio_intervals (
  file_id INTEGER, ts BIGINT, dur BIGINT,
  folio INTEGER, pfn BIGINT, pfn_confidence ENUM('observed', 'inferred', 'unknown'), "order" INTEGER, anon BOOLEAN,
  refcount INTEGER,        -- references the model accounts for (mappings, GUP, entries)
  mapcount INTEGER,        -- PTE mappings
  entire_mapcount INTEGER, -- PMD mappings
  pincount INTEGER,        -- FOLL_PIN pins
  locked BOOLEAN,
  anon_exclusive BOOLEAN,  -- PageAnonExclusive
  lru BOOLEAN,
  freed BOOLEAN,
  source_event BIGINT
);

-- The model's RSS counters against every rss_stat the kernel emitted.
CREATE TABLE rss_check (
  file_id INTEGER, event_id BIGINT, ts BIGINT,
  mm INTEGER,
  member ENUM('MM_FILEPAGES', 'MM_ANONPAGES', 'MM_SWAPENTS', 'MM_SHMEMPAGES'),
  kernel_value BIGINT,     -- pages (rss_stat size / page size)
  model_value BIGINT,
  match BOOLEAN,           -- NULL for calibration rows (the first count of an mm the trace did not see start)
  note VARCHAR             -- calibration, or why a mismatch happened
);

-- Page-table pages each fault allocated (GFP_PGTABLE_USER mm_page_alloc inside the fault) against
-- the model's radix tree (x86-64, 4 or 5 levels): the tables it lacked on the fault's path.
CREATE TABLE pgtable_check (
  file_id INTEGER, event_id BIGINT,
  mm INTEGER,
  va BIGINT,               -- faulting address
  kernel_tables INTEGER,   -- page-table pages the kernel allocated in the fault
  model_tables INTEGER,    -- tables (pte, pmd, pud, p4d) the model allocated
  match BOOLEAN,           -- NULL when the model cannot know which tables existed
  note VARCHAR             -- why not checkable
);

-- Invariants that failed, with whether the failure can be the kernel's or comes from missing data.
CREATE TABLE invariant_violations (
  file_id INTEGER, event_id BIGINT, ts BIGINT,
  rule VARCHAR, explanation VARCHAR,
  label VARCHAR,           -- kernel | pre-trace | lost-events | model | untraced (an event type the trace lacks would show it)
                           -- | divergence (a counterfactual design departing from what the recorded kernel did, not a model error)
  design VARCHAR           -- device-exclusive design replayed (replay_runs.design for the full replay, else a counterfactual one)
);

-- pagemap checkpoints (MMREPLAY_CKPT markers) against the model's page table at that instant.
CREATE TABLE pagemap_check (
  file_id INTEGER, event_id BIGINT, ts BIGINT, label VARCHAR, pid INTEGER, mm INTEGER,
  va BIGINT,
  kernel_state VARCHAR,    -- present | swap | none, from /proc/PID/pagemap
  kernel_pfn BIGINT,
  kernel_flags VARCHAR,    -- d soft-dirty, x exclusively mapped, f file/shared
  model_state VARCHAR,
  model_pfn BIGINT,
  confidence VARCHAR,
  present_match BOOLEAN,
  pfn_match BOOLEAN        -- NULL unless the model's pfn is observed
);
