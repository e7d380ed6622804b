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
