-- Device-exclusive requests, calls and pages, per design replayed (`mmreplay replay --design`).
-- Verdicts (`predicted_*`, `outcome`, `cause`) come from the model's state; `observed_*` columns are
-- read from outcome-revealing events (kretprobe values, sys_exit_ioctl) and used only to score it.
DROP VIEW IF EXISTS exclusive_agreement; DROP VIEW IF EXISTS exclusive_failures; DROP VIEW IF EXISTS exclusive_disagreements;
DROP TABLE IF EXISTS exclusive_requests; DROP TABLE IF EXISTS exclusive_calls; DROP TABLE IF EXISTS exclusive_pages;

-- One row per driver request (a test_hmm HMM_DMIRROR_EXCLUSIVE ioctl, or a bare caller's calls).
CREATE TABLE exclusive_requests (
  file_id INTEGER,
  design VARCHAR,           -- v8 | 5.14 | 6.15: the algorithm replayed
  request_id INTEGER,
  ts BIGINT, dur BIGINT,    -- ioctl entry to exit
  tid INTEGER,
  mm INTEGER,
  start_va BIGINT,          -- first address (RACE_BEGIN marker, else the first call's start)
  npages INTEGER,
  predicted_result INTEGER, -- as the ioctl would return it: 0, -16 (EBUSY), -2 (ENOENT), -14 (EFAULT)
  observed_result INTEGER,  -- sys_exit_ioctl's value, NULL when not traced
  calls INTEGER,            -- make_device_exclusive_range calls (64-page chunks) seen
  failed_pages INTEGER,     -- pages the model failed across its calls
  enoent_pages INTEGER,     -- mirror entries invalidated before the final read
  note VARCHAR              -- why the trace cannot settle the verdict, where it cannot
);

-- One row per make_device_exclusive_range (or make_device_exclusive) call.
CREATE TABLE exclusive_calls (
  file_id INTEGER, design VARCHAR,
  call_id INTEGER, request_id INTEGER,
  ts BIGINT, dur BIGINT,
  start_va BIGINT, npages INTEGER,
  gup_count INTEGER,        -- pages GUP pinned
  result INTEGER,           -- predicted return value (the GUP count for 5.14-6.14)
  failed_pages INTEGER,     -- predicted NULL slots
  observed_result INTEGER,  -- kretprobe $retval
  observed_failed_pages INTEGER, -- NULL slots in the kretprobe's page array
  walk_timing VARCHAR       -- rmap_walk (each page walked at its traced rmap_walk or page_make_device_exclusive_one) | tlb_flush (no walk probe: each page the walk made exclusive at the caller's TLB flush, ptep_clear_flush) | interpolated (no walk probe: times spread evenly from GUP's return to the call's) | call_return (walked at return)
);

-- One row per page of each call.
CREATE TABLE exclusive_pages (
  file_id INTEGER, design VARCHAR,
  call_id INTEGER,
  idx INTEGER,              -- page index in the call
  address BIGINT,
  gup_pfn BIGINT,           -- PFN of the page GUP pinned (NULL if not known or not pinned)
  outcome VARCHAR,          -- exclusive | failed
  cause VARCHAR,            -- exclusive | trylock_failed | tail_page | not_anon | replaced | write_protected | mapped_elsewhere | gup_short
  culprit_event BIGINT,     -- events.id that replaced (unmapped) or write-protected the pinned page
  culprit_tid INTEGER,
  culprit_ts BIGINT,
  window_ns BIGINT,         -- from GUP's return to this page's walk
  walk_ts BIGINT,           -- when the rmap walk reached it (the traced rmap_walk, else the call's return)
  pin_ts BIGINT,            -- when the model's GUP pinned it
  pin_lo BIGINT, pin_hi BIGINT, -- the window the trace allows for that pin (GUP anchors around it)
  observed_outcome VARCHAR  -- from the kretprobe's page array, NULL when not traced
);
