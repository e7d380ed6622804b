-- PTE and folio state: page-table entries and folios over time, with the event that set each state.

-- PTE states with a readable label and the event that installed each.
-- @requires pte_intervals, events
CREATE OR REPLACE VIEW pte_states (
  file_id,     -- files.file_id
  mm,          -- mm.mm
  va,          -- page address
  ts,          -- the state begins (ns)
  end_ts,      -- the state ends (ns): ts + dur
  state,       -- none | present rw | present ro | device_exclusive | swap | migration | ...: kind, with write for present entries
  pfn,         -- page frame, NULL when not known
  confidence,  -- observed | inferred | unknown: how the model knows the pfn
  source_event,-- events.id that installed it
  source       -- that event's name
) AS
SELECT p.file_id, p.mm, p.va, p.ts, p.ts + p.dur,
       CASE WHEN p.kind = 'present' THEN 'present ' || CASE WHEN p.write THEN 'rw' ELSE 'ro' END ELSE p.kind END,
       p.pfn, p.confidence, p.source_event, e.event
FROM pte_intervals p LEFT JOIN events e ON e.id = p.source_event;

-- Folio states while a FOLL_PIN pin or a device-exclusive reference holds them.
-- @requires folio_intervals
CREATE OR REPLACE VIEW folio_pins (
  file_id,     -- files.file_id
  folio,       -- folio_intervals.folio
  pfn,         -- first page frame
  ts,          -- state begins (ns)
  dur,         -- length (ns)
  refcount,    -- references the model accounts for
  mapcount,    -- PTE mappings
  pincount,    -- FOLL_PIN pins
  anon_exclusive -- PageAnonExclusive
) AS
SELECT file_id, folio, pfn, ts, dur, refcount, mapcount, pincount, anon_exclusive
FROM folio_intervals WHERE pincount > 0;
