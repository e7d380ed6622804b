-- Lossy windows: when each CPU lost events, and which analysis rows fall in that time.
--
-- A ring buffer loses events per CPU, and every format says so at the point of the CPU's stream
-- where they went missing: tracefs prints `CPU:N [LOST M EVENTS]` just before the first event it
-- read on CPU N after the loss (the ring buffer's missed-events count belongs to the gap between
-- two events it hands the reader); `trace-cmd report` prints `CPU:N [M EVENTS DROPPED]` before the
-- first record of a page whose header carries the missed-events flag, and a `.dat` reader meets
-- that flag at the same place; perf writes PERF_RECORD_LOST into the CPU's buffer at the first
-- write after room frees up, so its samples went missing after the last sample before it. In every
-- case the events were lost on that CPU after the last event it shows before the marker and before
-- the first it shows after: that open interval is the CPU's lossy window, and it is bounded by the
-- file's own order (lost_events.line_no against events.line_no, the record number of a binary
-- input), never by a guess of time. A window also holds its resumption event (the first after the
-- loss), the first whose effects the lost events can hide. A marker that names no CPU (the `trace`
-- header's entries-in-buffer/entries-written difference, a perf LOST record without a CPU) opens a
-- window on every CPU of the file; a loss with no place in the file (a `record` sidecar's per-CPU
-- overruns) covers the whole recording on its CPU. Effects of a loss can show later than its
-- window (a page freed in the window and reused much later): the window says when, not how far.

-- One row per CPU and lost-events marker: the window in which that CPU's events went missing.
-- @requires lost_events, events
CREATE OR REPLACE VIEW lossy_windows (
  file_id,     -- files.file_id
  cpu,         -- the CPU that lost events (a marker without a CPU gives a row per CPU of the file)
  line_no,     -- lost_events.line_no of the marker (binary input: record number); NULL: no place in the file
  lost,        -- events lost (lost_events.count); NULL when the tracer does not say
  from_ts,     -- the last event on this CPU before the marker (ns); the window opens after it. NULL:
               -- none, open from the start of the recording
  to_ts        -- the first event on this CPU after the marker, the resumption (ns), the window's last
               -- instant. NULL: none, open to the end of the recording
) AS
WITH cpus AS (SELECT DISTINCT file_id, cpu FROM events),
markers AS (
  SELECT l.file_id, coalesce(l.cpu, c.cpu) AS cpu, l.line_no, l.count
  FROM lost_events l LEFT JOIN cpus c ON l.cpu IS NULL AND c.file_id = l.file_id
),
opened AS (
  SELECT m.*, e.ts_ns AS from_ts
  FROM markers m ASOF LEFT JOIN events e ON e.file_id = m.file_id AND e.cpu = m.cpu AND m.line_no > e.line_no
)
SELECT o.file_id, o.cpu, o.line_no, o.count, o.from_ts, e.ts_ns
FROM opened o ASOF LEFT JOIN events e ON e.file_id = o.file_id AND e.cpu = o.cpu AND o.line_no < e.line_no;

-- Whether the time span [t0, t1] (ns; t0 = t1 for an instant) of file f meets a lossy window of
-- any CPU (after its from_ts, up to its to_ts): rows without a CPU of their own (a request, a
-- page's GUP-to-walk window, a violation found while replaying an event) can depend on events of
-- every CPU. NULL bounds are open.
-- @requires lossy_windows
CREATE OR REPLACE MACRO in_lossy_window(f, t0, t1) AS
  EXISTS (SELECT 1 FROM lossy_windows w
          WHERE w.file_id = f AND (w.from_ts IS NULL OR w.from_ts < t1) AND (w.to_ts IS NULL OR w.to_ts >= t0));
