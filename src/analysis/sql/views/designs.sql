-- Design comparison: the same requests replayed under each device-exclusive design, against each
-- other and against the kernel.

-- Per design and request size: failure rate beside the kernel's, and how often the design's
-- verdict matches the kernel's.
-- @requires exclusive_request_results
CREATE OR REPLACE VIEW design_comparison (
  design,      -- 5.14 | v8 | 6.15
  npages,      -- request size
  requests,    -- requests of that size
  failed,      -- requests the design fails
  failure_rate,-- failed / requests
  kernel_failure_rate, -- the kernel's, over the same requests (NULL when not traced)
  agree_with_kernel -- share of requests whose result equals the kernel's
) AS
SELECT design, npages, count(*), count(*) FILTER (failed), avg(failed::INT),
       avg((kernel_result <> '0')::INT), avg(agree::INT)
FROM exclusive_request_results GROUP BY design, npages;

-- Every pair of designs: how many requests they decide the same way.
-- @requires exclusive_requests
CREATE OR REPLACE VIEW design_pairs (
  design_a,    -- one design
  design_b,    -- another (design_a < design_b)
  requests,    -- requests replayed under both
  same_result, -- requests with the same result
  same_pages,  -- requests with the same result and the same number of failed pages
  only_a_fails,-- requests design_a fails and design_b does not
  only_b_fails -- requests design_b fails and design_a does not
) AS
SELECT a.design, b.design, count(*), count(*) FILTER (a.predicted_result = b.predicted_result),
       count(*) FILTER (a.predicted_result = b.predicted_result AND a.failed_pages = b.failed_pages),
       count(*) FILTER (a.predicted_result <> 0 AND b.predicted_result = 0),
       count(*) FILTER (a.predicted_result = 0 AND b.predicted_result <> 0)
FROM exclusive_requests a JOIN exclusive_requests b ON a.file_id = b.file_id AND a.request_id = b.request_id AND a.design < b.design
GROUP BY a.design, b.design;
