-- Failure causes and culprits: why pages failed, when, and which process and syscall did it.

-- Failed pages by cause, per design.
-- @requires exclusive_page_windows
CREATE OR REPLACE VIEW failure_causes (
  design,      -- 5.14 | v8 | 6.15
  cause,       -- replaced | write_protected | mapped_elsewhere | trylock_failed | tail_page | not_anon | gup_short
  pages,       -- failed pages
  calls,       -- calls with at least one such page
  requests,    -- requests with at least one such page
  median_window_us -- median GUP-to-walk window of those pages, microseconds
) AS
SELECT design, cause, count(*), count(DISTINCT (file_id, call_id)), count(DISTINCT (file_id, request_id)), median(window_us)
FROM exclusive_page_windows WHERE outcome = 'failed' GROUP BY design, cause;

-- Failed pages by cause over time: the trace cut into 40 equal bins.
-- @requires exclusive_page_windows, trace_span
CREATE OR REPLACE VIEW failure_causes_over_time (
  design,      -- 5.14 | v8 | 6.15
  bin_start_s, -- bin start, seconds since the first event of the file
  bin_s,       -- bin width, seconds
  cause,       -- why the pages failed
  pages        -- failed pages walked in that bin
) AS
WITH b AS (SELECT file_id, first_ts, greatest(dur, 1) / 40.0 AS w FROM trace_span)
SELECT p.design, floor((p.walk_ts - b.first_ts) / b.w) * b.w / 1e9, b.w / 1e9, p.cause, count(*)
FROM exclusive_page_windows p JOIN b USING (file_id)
WHERE p.outcome = 'failed'
GROUP BY ALL;

-- The events that replaced or write-protected pinned pages: one row per culprit event and design.
-- @requires exclusive_request_pages
CREATE OR REPLACE VIEW culprit_events (
  file_id,     -- files.file_id
  design,      -- 5.14 | v8 | 6.15
  culprit_event, -- events.id
  culprit,     -- event name
  ts,          -- when (ns)
  tid,         -- the task that ran it
  comm,        -- its command name
  syscall,     -- the syscall it ran inside; NULL for a user fault or none
  pages,       -- pinned pages it took away
  calls,       -- calls that lost a page to it
  requests     -- requests that lost a page to it
) AS
SELECT file_id, design, culprit_event, any_value(culprit), min(culprit_ts), any_value(culprit_tid), any_value(culprit_comm),
       any_value(culprit_syscall), count(*), count(DISTINCT call_id), count(DISTINCT request_id)
FROM exclusive_request_pages WHERE culprit_event IS NOT NULL
GROUP BY file_id, design, culprit_event;

-- Culprits by process and syscall: who took the pinned pages away, per design.
-- @requires culprit_events
CREATE OR REPLACE VIEW culprit_processes (
  design,      -- 5.14 | v8 | 6.15
  comm,        -- command name
  tid,         -- task
  syscall,     -- the syscall, or the event name when it ran outside one (a user fault)
  events,      -- culprit events
  pages,       -- pinned pages taken away
  requests     -- requests that lost a page to it (summed over events)
) AS
SELECT design, comm, tid, coalesce(syscall, culprit), count(*), sum(pages), sum(requests)
FROM culprit_events GROUP BY ALL;
