-- Device-exclusive requests, calls and pages: results by size, GUP-to-walk windows, and each
-- request's pages. Over the exclusive_* tables `mmreplay replay` writes, one set per design.

-- A return value as its errno name: 0, -EBUSY, -ENOENT, -EFAULT, else the number.
CREATE OR REPLACE MACRO _errno_name(r) AS
  CASE r WHEN 0 THEN '0' WHEN -16 THEN '-EBUSY' WHEN -2 THEN '-ENOENT' WHEN -14 THEN '-EFAULT' ELSE r::VARCHAR END;

-- One row per request and design, results named, the model's beside the kernel's.
-- @requires exclusive_requests, lossy_windows
CREATE OR REPLACE VIEW exclusive_request_results (
  file_id,     -- files.file_id
  design,      -- 5.14 | v8 | 6.15: the algorithm replayed
  request_id,  -- exclusive_requests.request_id (the same request under every design)
  ts,          -- ioctl entry (ns)
  dur,         -- ioctl entry to exit (ns)
  tid,         -- the requesting task
  mm,          -- mm.mm of the range
  start_va,    -- first address
  npages,      -- pages asked for
  result,      -- the model's verdict under this design: 0 | -EBUSY | -ENOENT | -EFAULT
  kernel_result, -- what the kernel's ioctl returned (sys_exit_ioctl); NULL when not traced
  agree,       -- result = kernel_result; NULL when the kernel's result is not traced
  failed,      -- the model fails the request (result <> 0)
  calls,       -- make_device_exclusive_range calls
  failed_pages,-- pages the model failed across its calls
  enoent_pages,-- mirror entries invalidated before the final read
  lossy        -- the request's span (ts to ts + dur) meets a CPU's lossy window (lossy_windows):
               -- events it depends on may be missing from the trace
) AS
SELECT file_id, design, request_id, ts, dur, tid, mm, start_va, npages,
       _errno_name(predicted_result), _errno_name(observed_result), predicted_result = observed_result,
       predicted_result <> 0, calls, failed_pages, enoent_pages, in_lossy_window(file_id, ts, ts + coalesce(dur, 0))
FROM exclusive_requests;

-- Share of requests failing, by request size: one series per design replayed (the model's
-- verdicts) and one for the kernel (its ioctl results, the same requests). The numbers behind the
-- failure-by-size chart.
-- @requires exclusive_requests
CREATE OR REPLACE VIEW exclusive_failure_by_size (
  series,      -- a design (5.14, v8, 6.15) or 'kernel'
  source,      -- model | kernel
  npages,      -- request size in pages
  requests,    -- requests of that size (for the kernel: those whose result is traced)
  failed,      -- requests that failed
  ebusy,       -- of which -EBUSY
  enoent,      -- of which -ENOENT
  failure_rate -- failed / requests
) AS
SELECT design, 'model', npages, count(*), count(*) FILTER (predicted_result <> 0),
       count(*) FILTER (predicted_result = -16), count(*) FILTER (predicted_result = -2), avg((predicted_result <> 0)::INT)
FROM exclusive_requests WHERE npages IS NOT NULL GROUP BY design, npages
UNION ALL
SELECT 'kernel', 'kernel', npages, count(*), count(*) FILTER (observed_result <> 0),
       count(*) FILTER (observed_result = -16), count(*) FILTER (observed_result = -2), avg((observed_result <> 0)::INT)
FROM exclusive_requests
WHERE npages IS NOT NULL AND observed_result IS NOT NULL AND design = (SELECT min(design) FROM exclusive_requests)
GROUP BY npages;

-- Every page of every call: when GUP pinned it, when the rmap walk reached it, and how it ended.
-- @requires exclusive_pages, exclusive_calls, lossy_windows
CREATE OR REPLACE VIEW exclusive_page_windows (
  file_id,     -- files.file_id
  design,      -- 5.14 | v8 | 6.15
  request_id,  -- exclusive_requests.request_id
  call_id,     -- exclusive_calls.call_id
  idx,         -- page index in the call
  address,     -- page address
  outcome,     -- exclusive | failed: the model's verdict
  cause,       -- exclusive | replaced | write_protected | mapped_elsewhere | trylock_failed | tail_page | not_anon | gup_short
  pin_ts,      -- when the model's GUP pinned it (ns)
  walk_ts,     -- when the walk reached it (ns)
  window_ns,   -- walk_ts - GUP's return: how long the page was exposed to the CPU side
  window_us,   -- window_ns in microseconds
  lossy        -- pin to walk (the call's span where either is unknown) meets a CPU's lossy window:
               -- the event that decided the page may be missing from the trace
) AS
SELECT p.file_id, p.design, c.request_id, p.call_id, p.idx, p.address, p.outcome, p.cause, p.pin_ts, p.walk_ts, p.window_ns, p.window_ns / 1000.0,
       in_lossy_window(p.file_id, coalesce(p.pin_ts, c.ts), coalesce(p.walk_ts, c.ts + coalesce(c.dur, 0)))
FROM exclusive_pages p JOIN exclusive_calls c USING (file_id, design, call_id);

-- One request's story, page by page: the pin, the walk, the verdict, the event that replaced or
-- write-protected the page in between and the syscall it belongs to, and the kernel's own verdict.
-- @requires exclusive_pages, exclusive_calls, syscall_spans, events, lossy_windows
CREATE OR REPLACE VIEW exclusive_request_pages (
  file_id,     -- files.file_id
  design,      -- 5.14 | v8 | 6.15
  request_id,  -- exclusive_requests.request_id
  call_id,     -- exclusive_calls.call_id
  idx,         -- page index in the call
  address,     -- page address
  address_hex, -- the same, printed in hex
  gup_pfn,     -- PFN GUP pinned
  pin_ts,      -- the model's GUP pin (ns)
  walk_ts,     -- the walk (ns)
  window_us,   -- pin to walk, microseconds
  outcome,     -- exclusive | failed (the model)
  cause,       -- why (see exclusive_page_windows.cause)
  culprit_event, -- events.id of the event that replaced or write-protected the page
  culprit,     -- its name
  culprit_tid, -- the task that ran it
  culprit_comm,-- that task's command name
  culprit_ts,  -- when it ran (ns)
  culprit_syscall, -- the syscall it ran inside (madvise, mprotect, ...), NULL for a user fault or none
  culprit_after_pin_us, -- culprit time minus pin time, microseconds
  kernel_outcome, -- the kernel's verdict from its page array; NULL when not traced
  lossy        -- pin to walk meets a CPU's lossy window (see exclusive_page_windows.lossy)
) AS
SELECT p.file_id, p.design, c.request_id, p.call_id, p.idx, p.address, printf('0x%x', p.address), p.gup_pfn, p.pin_ts, p.walk_ts, p.window_ns / 1000.0,
       p.outcome, p.cause, p.culprit_event, e.event, p.culprit_tid, e.comm, p.culprit_ts,
       (SELECT s.syscall FROM syscall_spans s
         WHERE s.file_id = p.file_id AND s.tid = e.tid AND s.ts <= e.ts_ns AND (s.dur IS NULL OR s.ts + s.dur >= e.ts_ns)
         ORDER BY s.ts DESC LIMIT 1),
       (p.culprit_ts - p.pin_ts) / 1000.0, p.observed_outcome,
       in_lossy_window(p.file_id, coalesce(p.pin_ts, c.ts), coalesce(p.walk_ts, c.ts + coalesce(c.dur, 0)))
FROM exclusive_pages p JOIN exclusive_calls c USING (file_id, design, call_id)
LEFT JOIN events e ON e.id = p.culprit_event;
