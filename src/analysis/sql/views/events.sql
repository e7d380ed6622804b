-- Events: what the trace holds, by event name and over time.

-- The time span of each file's events.
-- @requires events
CREATE OR REPLACE VIEW trace_span (
  file_id,     -- files.file_id
  first_ts,    -- first event (ns, trace clock)
  last_ts,     -- last event (ns)
  dur,         -- last_ts - first_ts (ns)
  events,      -- events in the file
  cpus,        -- distinct CPUs seen
  tasks        -- distinct tids seen
) AS
SELECT file_id, min(ts_ns), max(ts_ns), max(ts_ns) - min(ts_ns), count(*), count(DISTINCT cpu), count(DISTINCT tid)
FROM events GROUP BY file_id;

-- One row per (file, event name): how often it fired and when.
-- @requires events
CREATE OR REPLACE VIEW event_counts (
  file_id,     -- files.file_id
  event,       -- system:name
  events,      -- how many
  first_ts,    -- first occurrence (ns)
  last_ts,     -- last occurrence (ns)
  tasks        -- distinct tids that emitted it
) AS
SELECT file_id, event, count(*), min(ts_ns), max(ts_ns), count(DISTINCT tid)
FROM events GROUP BY file_id, event;

-- Syscalls with entry and exit paired per task: one row per syscall the trace shows entering.
-- @requires events
CREATE OR REPLACE VIEW syscall_spans (
  file_id,     -- files.file_id
  tid,         -- the calling task
  syscall,     -- name (mmap, madvise, ioctl, ...)
  enter_event, -- events.id of sys_enter_<name>
  ts,          -- entry (ns)
  dur          -- entry to the task's next sys_exit_<name> (ns); NULL when the exit is not in the trace
) AS
WITH s AS (
  SELECT file_id, tid, id, ts_ns, event LIKE 'syscalls:sys_enter_%' AS enter, regexp_extract(event, 'syscalls:sys_(?:enter|exit)_(.*)', 1) AS syscall
  FROM events WHERE event LIKE 'syscalls:sys_%'
), n AS (
  SELECT *, lead(ts_ns) OVER w AS next_ts, lead(enter) OVER w AS next_enter, lead(syscall) OVER w AS next_syscall
  FROM s WINDOW w AS (PARTITION BY file_id, tid ORDER BY ts_ns, id)
)
SELECT file_id, tid, syscall, id, ts_ns, CASE WHEN NOT next_enter AND next_syscall = syscall THEN next_ts - ts_ns END
FROM n WHERE enter;
