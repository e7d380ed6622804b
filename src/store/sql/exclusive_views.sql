-- Views over the exclusive_* tables.

-- The model's verdict against the kernel's, per request and per call.
CREATE OR REPLACE VIEW exclusive_agreement AS
SELECT file_id, design, 'request' AS level, request_id AS id, ts,
       predicted_result AS predicted, observed_result AS observed,
       predicted_result = observed_result AS agree  -- NULL when the kernel's verdict is not traced
FROM exclusive_requests
UNION ALL
SELECT file_id, design, 'call', call_id, ts, failed_pages, observed_failed_pages, failed_pages = observed_failed_pages
FROM exclusive_calls;

-- Failed pages with their culprit event named.
CREATE OR REPLACE VIEW exclusive_failures AS
SELECT p.file_id, p.design, p.call_id, c.request_id, p.idx, p.address, p.gup_pfn, p.cause,
       p.culprit_event, e.event AS culprit, e.comm AS culprit_comm, p.culprit_tid, p.culprit_ts,
       p.window_ns, p.observed_outcome
FROM exclusive_pages p JOIN exclusive_calls c USING (file_id, design, call_id)
LEFT JOIN events e ON e.id = p.culprit_event
WHERE p.outcome = 'failed';

-- Every request and call where the model and the kernel disagree, with why the trace cannot settle
-- it: the CPU-side change to a page falls inside the window GUP's pin time is only known within,
-- or the invalidation falls between the final read and the ioctl's return.
CREATE OR REPLACE VIEW exclusive_disagreements AS
WITH bad_pages AS (
  SELECT p.*, c.request_id FROM exclusive_pages p JOIN exclusive_calls c USING (file_id, design, call_id)
  WHERE p.observed_outcome IS NOT NULL AND p.outcome <> p.observed_outcome
),
explained AS (
  SELECT b.file_id, b.design, b.call_id, b.request_id, b.idx, b.address,
         (SELECT min(v.ts) FROM pte_intervals v
           WHERE v.file_id = b.file_id AND v.va = b.address AND v.ts > b.pin_lo AND v.ts <= b.pin_hi) AS change_ts,
         b.pin_lo, b.pin_hi
  FROM bad_pages b
)
SELECT r.file_id, r.design, 'request' AS level, r.request_id AS id, r.predicted_result AS predicted, r.observed_result AS observed,
       coalesce(r.note,
         (SELECT 'page ' || printf('0x%x', e.address) || ' changed at ' || e.change_ts || ' ns, inside the window [' || e.pin_lo || ', ' || e.pin_hi || '] in which GUP pinned it (its exact pin time is not traced)'
            FROM explained e WHERE e.file_id = r.file_id AND e.design = r.design AND e.request_id = r.request_id AND e.change_ts IS NOT NULL LIMIT 1),
         'model') AS reason
FROM exclusive_requests r
WHERE r.observed_result IS NOT NULL AND r.predicted_result <> r.observed_result
UNION ALL
SELECT c.file_id, c.design, 'call', c.call_id, c.failed_pages, c.observed_failed_pages,
       coalesce((SELECT 'page ' || printf('0x%x', e.address) || ' changed at ' || e.change_ts || ' ns, inside the window [' || e.pin_lo || ', ' || e.pin_hi || '] in which GUP pinned it (its exact pin time is not traced)'
                   FROM explained e WHERE e.file_id = c.file_id AND e.design = c.design AND e.call_id = c.call_id AND e.change_ts IS NOT NULL LIMIT 1), 'model')
FROM exclusive_calls c
WHERE c.observed_failed_pages IS NOT NULL AND c.failed_pages <> c.observed_failed_pages;
