-- Core tables written by `mmreplay ingest`. Typed per-event tables (`<system>_<event>`, one
-- column per field of the event's format file, keyed by `id`) are created as events appear.

-- One row per ingested input file.
CREATE TABLE IF NOT EXISTS files (
  file_id INTEGER,      -- 0-based, in the order the files were given
  path VARCHAR,         -- as given on the command line
  format VARCHAR,       -- ftrace | trace-cmd | perf
  compression VARCHAR,  -- none | gzip | xz | zstd
  lines BIGINT,         -- input lines read
  header_lines BIGINT,  -- comment, header and blank lines
  bytes BIGINT,         -- size on disk
  events BIGINT,        -- lines that became rows of `events`
  filtered BIGINT,      -- event lines left out by --pid/--comm/--from/--to
  unparsed BIGINT,      -- lines that became rows of `unparsed`
  lost BIGINT,          -- events the tracer reported lost (sum of lost_events.count)
  metadata JSON         -- tracer, cpus, entries-in-buffer/written, format sources, warnings
);

-- One row per trace event, whatever the input format.
CREATE TABLE IF NOT EXISTS events (
  id BIGINT,            -- unique over the database; typed tables join on it
  file_id INTEGER,      -- files.file_id
  line_no BIGINT,       -- 1-based line in the (decompressed) input
  ts_ns BIGINT,         -- timestamp in ns on the trace clock, exact
  cpu INTEGER,
  tid INTEGER,          -- the task (thread) id printed by the tracer
  tgid INTEGER,         -- process id when the format prints it, else NULL
  comm VARCHAR,
  flags VARCHAR,        -- irq/preempt flags column (`d..1.`) when printed, else NULL
  event VARCHAR         -- system:name, e.g. exceptions:page_fault_user
);

-- Events without a typed table, and typed events whose fields did not parse.
CREATE TABLE IF NOT EXISTS other_events (
  id BIGINT,            -- events.id
  event VARCHAR,        -- system:name (`unknown:<name>` when no catalogue knows the name)
  args VARCHAR,         -- the printed fields, verbatim
  fields JSON           -- name/value pairs parsed from args, values as printed
);

-- Lost-event markers, as each format prints them.
CREATE TABLE IF NOT EXISTS lost_events (
  file_id INTEGER,
  line_no BIGINT,       -- line of the marker (the header line for entries-in-buffer/written)
  cpu INTEGER,          -- NULL when the tracer does not say
  count BIGINT,         -- events lost, NULL when the tracer does not say
  ts_ns BIGINT          -- timestamp of the last event before the marker, NULL at the start
);

-- Input lines that are neither events, header lines nor lost-event markers.
CREATE TABLE IF NOT EXISTS unparsed (
  file_id INTEGER,
  line_no BIGINT,
  text VARCHAR,
  reason VARCHAR        -- what was expected
);

-- Events whose header parsed but whose fields did not fit the event's format.
CREATE TABLE IF NOT EXISTS field_errors (
  id BIGINT,            -- events.id (the event is also in other_events)
  event VARCHAR,
  reason VARCHAR
);
