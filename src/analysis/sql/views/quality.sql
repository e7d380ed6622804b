-- Trace quality: what the trace lost or could not say, and which checks it leaves undecided.

-- One row per input file: how much of it became events, and what was lost or not understood.
-- @requires files, field_errors
CREATE OR REPLACE VIEW trace_quality (
  file_id,     -- files.file_id
  path,        -- as given to ingest
  format,      -- ftrace | trace-cmd | perf
  lines,       -- input lines
  events,      -- lines that became events
  filtered,    -- event lines left out by --pid/--comm/--from/--to
  unparsed,    -- lines neither events, headers nor lost-event markers
  lost,        -- events the tracer reported lost
  lost_share,  -- lost / (events + lost)
  field_errors -- events whose fields did not fit their format
) AS
SELECT f.file_id, f.path, f.format, f.lines, f.events, f.filtered, f.unparsed, f.lost,
       f.lost / greatest(f.events + f.lost, 1),
       (SELECT count(*) FROM field_errors fe JOIN events e ON e.id = fe.id WHERE e.file_id = f.file_id)
FROM files f;

-- Lost-event markers per file and CPU.
-- @requires lost_events
CREATE OR REPLACE VIEW lost_event_windows (
  file_id,     -- files.file_id
  cpu,         -- NULL when the tracer does not say
  markers,     -- lost-event markers
  events_lost, -- sum of their counts (NULL when none says)
  first_ts,    -- earliest marker's preceding event (ns)
  last_ts      -- latest (ns)
) AS
SELECT file_id, cpu, count(*), sum(count), min(ts_ns), max(ts_ns) FROM lost_events GROUP BY file_id, cpu;

-- Unparsed lines grouped by what was expected, with an example.
-- @requires unparsed
CREATE OR REPLACE VIEW unparsed_reasons (
  file_id,     -- files.file_id
  reason,      -- what the reader expected
  lines,       -- lines with that reason
  first_line,  -- first such line number
  example      -- its text
) AS
SELECT file_id, reason, count(*), min(line_no), arg_min(text, line_no) FROM unparsed GROUP BY file_id, reason;

-- Rows of the replay's checks that the trace cannot decide, with why: the model's verdict is not
-- compared there.
-- @requires rss_check, pgtable_check, pagemap_check, exclusive_requests
CREATE OR REPLACE VIEW not_checkable (
  file_id,     -- files.file_id
  check_table, -- rss_check | pgtable_check | pagemap_check | exclusive_requests
  reason,      -- the note the replay wrote
  rows         -- rows left undecided for that reason
) AS
SELECT file_id, 'rss_check', coalesce(note, 'calibration'), count(*) FROM rss_check WHERE match IS NULL GROUP BY ALL
UNION ALL
SELECT file_id, 'pgtable_check', coalesce(note, 'unknown'), count(*) FROM pgtable_check WHERE match IS NULL GROUP BY ALL
UNION ALL
SELECT file_id, 'pagemap_check', 'pfn not observed (' || confidence || ')', count(*) FROM pagemap_check WHERE pfn_match IS NULL GROUP BY ALL
UNION ALL
SELECT file_id, 'exclusive_requests', note, count(*) FROM exclusive_requests WHERE note IS NOT NULL AND design = (SELECT min(design) FROM exclusive_requests) GROUP BY ALL;

-- Checks the replay could decide, per file: how many agreed with the kernel.
-- @requires rss_check, pgtable_check, pagemap_check
CREATE OR REPLACE VIEW check_agreement (
  file_id,     -- files.file_id
  check_table, -- rss_check | pgtable_check | pagemap_check (present) | pagemap_check (pfn)
  checked,     -- rows decided
  agree,       -- rows where the model matches the kernel
  agreement    -- agree / checked
) AS
SELECT file_id, 'rss_check', count(match), count(*) FILTER (match), avg(match::INT) FROM rss_check GROUP BY file_id
UNION ALL
SELECT file_id, 'pgtable_check', count(match), count(*) FILTER (match), avg(match::INT) FROM pgtable_check GROUP BY file_id
UNION ALL
SELECT file_id, 'pagemap_check (present)', count(present_match), count(*) FILTER (present_match), avg(present_match::INT) FROM pagemap_check GROUP BY file_id
UNION ALL
SELECT file_id, 'pagemap_check (pfn)', count(pfn_match), count(*) FILTER (pfn_match), avg(pfn_match::INT) FROM pagemap_check GROUP BY file_id;

-- Each kprobe event of a file and the kernel function it probes, as ingest bound it (the replay
-- follows probes by function, never by name); func NULL: nothing in or beside the trace names it.
-- @requires probes, event_counts
CREATE OR REPLACE VIEW probe_bindings (
  file_id,     -- files.file_id
  event,       -- system:name as in events.event
  kind,        -- entry | return
  func,        -- the probed kernel function; NULL when unbound
  source,      -- what named func: the printed text, a definition file, or a symbol table
  events       -- how many times it fired in the file
) AS
SELECT p.file_id, p.event, p.kind, p.func, p.source, coalesce(c.events, 0)
FROM probes p LEFT JOIN event_counts c USING (file_id, event);
