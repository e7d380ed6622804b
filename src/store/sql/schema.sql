-- Core tables written by `mmreplay ingest`. Typed per-event tables (`<system>_<event>`, one
-- column per field of the event's format file, keyed by `id`) are created as events appear.

-- One row per ingested input file.
CREATE TABLE IF NOT EXISTS files (
  file_id INTEGER,      -- 0-based, in the order the files were given
  path VARCHAR,         -- as given on the command line
  format VARCHAR,       -- ftrace | trace-cmd | perf (text) | trace-cmd-dat | perf-data (binary)
  compression VARCHAR,  -- none | gzip | xz | zstd
  lines BIGINT,         -- input lines read (binary input: records read)
  header_lines BIGINT,  -- comment, header and blank lines
  bytes BIGINT,         -- size on disk
  events BIGINT,        -- lines that became rows of `events`
  filtered BIGINT,      -- event lines left out by --pid/--comm/--from/--to
  unparsed BIGINT,      -- lines that became rows of `unparsed`
  lost BIGINT,          -- events the tracer reported lost (sum of lost_events.count)
  metadata JSON         -- tracer, cpus, entries-in-buffer/written, format sources, warnings
);

-- `events` as stored (private: query the `events` view): the repeating strings comm, flags and
-- event as codes into the dictionaries below, which ingest extends as new strings appear. A scan
-- of `_events` returns rows in insertion (id) order, which a join need not keep.
CREATE TABLE IF NOT EXISTS _events (
  id BIGINT,            -- events.id
  file_id INTEGER,      -- events.file_id
  line_no BIGINT,       -- events.line_no
  ts_ns BIGINT,         -- events.ts_ns
  cpu INTEGER,          -- events.cpu
  tid INTEGER,          -- events.tid
  tgid INTEGER,         -- events.tgid
  comm_id INTEGER,      -- _comms.comm_id
  flags_id INTEGER,     -- _flags.flags_id; NULL when the format prints no flags column
  event_id INTEGER      -- _event_names.event_id
);

-- Dictionaries of `_events`: one row per distinct string, coded 0, 1, 2, ... in order of first sight.
CREATE TABLE IF NOT EXISTS _comms (comm_id INTEGER, comm VARCHAR);
CREATE TABLE IF NOT EXISTS _flags (flags_id INTEGER, flags VARCHAR);
CREATE TABLE IF NOT EXISTS _event_names (event_id INTEGER, event VARCHAR);

-- One row per trace event, whatever the input format. Rows come in no particular order: ORDER BY
-- id gives the input's.
CREATE OR REPLACE VIEW events AS
SELECT
  e.id,                 -- unique over the database; typed tables join on it
  e.file_id,            -- files.file_id
  e.line_no,            -- 1-based line in the (decompressed) input; binary input: record number in time order
  e.ts_ns,              -- timestamp in ns on the trace clock, exact
  e.cpu,
  e.tid,                -- the task (thread) id printed by the tracer
  e.tgid,               -- process id when the format prints it, else NULL
  c.comm,
  f.flags,              -- irq/preempt flags column (`d..1.`) when printed, else NULL
  n.event               -- system:name, e.g. exceptions:page_fault_user
FROM _events e
LEFT JOIN _comms c ON c.comm_id = e.comm_id
LEFT JOIN _flags f ON f.flags_id = e.flags_id
LEFT JOIN _event_names n ON n.event_id = e.event_id;
-- The same documentation where SQL clients look for it (duckdb_columns(), DESCRIBE tools).
COMMENT ON VIEW events IS 'One row per trace event, whatever the input format';
COMMENT ON COLUMN events.id IS 'unique over the database; typed tables join on it';
COMMENT ON COLUMN events.file_id IS 'files.file_id';
COMMENT ON COLUMN events.line_no IS '1-based line in the (decompressed) input; binary input: record number in time order';
COMMENT ON COLUMN events.ts_ns IS 'timestamp in ns on the trace clock, exact';
COMMENT ON COLUMN events.tid IS 'the task (thread) id printed by the tracer';
COMMENT ON COLUMN events.tgid IS 'process id when the format prints it, else NULL';
COMMENT ON COLUMN events.flags IS 'irq/preempt flags column (d..1.) when printed, else NULL';
COMMENT ON COLUMN events.event IS 'system:name, e.g. exceptions:page_fault_user';

-- Events without a typed table, and typed events whose fields did not parse.
CREATE TABLE IF NOT EXISTS other_events (
  id BIGINT,            -- events.id
  event VARCHAR,        -- system:name (`unknown:<name>` when no catalogue knows the name)
  args VARCHAR,         -- the printed fields, verbatim
  fields JSON           -- name/value pairs parsed from args, values as printed
);

-- Lost-event markers, as each format prints them. The view lossy_windows (views/lossy.sql) turns
-- each into the window in which its CPU lost the events: from the CPU's last event before the
-- marker (by line_no) to its first event after it.
CREATE TABLE IF NOT EXISTS lost_events (
  file_id INTEGER,
  line_no BIGINT,       -- line of the marker (the header line for entries-in-buffer/written); binary input: record number;
                        -- NULL for a record sidecar's per-CPU overruns (no place in the file)
  cpu INTEGER,          -- NULL when the tracer does not say
  count BIGINT,         -- events lost, NULL when the tracer does not say
  ts_ns BIGINT          -- timestamp of the file's last event before the marker, on any CPU; NULL at the start
);

-- The kernel's text symbols (types t, T, w, W of /proc/kallsyms) a binary trace carries (a
-- trace-cmd .dat, perf.data's tracing data): what binds a kprobe's `__probe_ip` to its function.
CREATE TABLE IF NOT EXISTS kallsyms (
  file_id INTEGER,      -- files.file_id
  addr UBIGINT,         -- symbol address as the trace's kernel saw it
  type VARCHAR,         -- t/T (local/global text), w/W (weak)
  name VARCHAR,
  module VARCHAR        -- [module] for module symbols, else NULL
);

-- Input lines that are neither events, header lines nor lost-event markers.
CREATE TABLE IF NOT EXISTS unparsed (
  file_id INTEGER,
  line_no BIGINT,
  text VARCHAR,
  reason VARCHAR        -- what was expected
);

-- The call chains perf script prints under samples recorded with `perf record -g`, a row a frame.
CREATE TABLE IF NOT EXISTS callchain_frames (
  file_id INTEGER,
  line_no BIGINT,       -- the frame's line
  event_line_no BIGINT, -- its sample's line: events.line_no of the same file
  depth INTEGER,        -- 0: where the event fired, then its callers outwards
  ip UBIGINT,
  symbol VARCHAR,       -- as printed: name+0xoffset, or [unknown]
  dso VARCHAR           -- as printed: [kernel.kallsyms], a path, or [unknown]
);

-- Events whose header parsed but whose fields did not fit the event's format.
CREATE TABLE IF NOT EXISTS field_errors (
  id BIGINT,            -- events.id (the event is also in other_events)
  event VARCHAR,
  reason VARCHAR
);

-- Each kprobe/kretprobe event of a file and the function it probes, whatever its name: from the
-- symbol the line prints, else the probe's definition (kprobe_events or `perf probe -l` beside the
-- trace, or --probes), else its printed address looked up in kallsyms (--kallsyms, or a copy beside
-- the trace). The replay binds events to the model by `func` and `kind`, never by event name.
CREATE TABLE IF NOT EXISTS probes (
  file_id INTEGER,
  event VARCHAR,        -- system:name as in events.event
  kind VARCHAR,         -- entry | return
  func VARCHAR,         -- the probed kernel function; NULL when no source names it
  "offset" INTEGER,     -- probe offset into func (entry probes), when known
  printed VARCHAR,      -- the head its first line printed, e.g. (get_user_pages_remote+0x4/0x510)
  source VARCHAR,       -- what named func: text, or the definition or symbol-table file
  target VARCHAR,       -- the definition's probe place (SYM[+offs], _text+N, address), else NULL
  args JSON             -- the definition's fetch args [{name, fetch, type}], else NULL
);
