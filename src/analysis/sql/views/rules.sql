-- Registry of the replay's invariant rules: every rule name `invariant_violations.rule` can hold,
-- with what it checks. The replay raises them as string literals (`sink.violation('rule', ...)` in
-- src/replay/*.ts); test/views.test.ts fails when one is missing here.

-- One row per invariant rule the replay checks.
CREATE OR REPLACE VIEW invariant_rules (
  rule,        -- the name invariant_violations.rule holds
  checks,      -- what must hold
  raised_in,   -- the model file (src/replay/) that raises it
  likely       -- the usual explanation when it fires on a real trace
) AS
SELECT * FROM (VALUES
  ('freed_page_still_mapped', 'a folio the kernel frees (mm_page_free) has no PTE or PMD mapping left in the model', 'invariants.ts, adapter.ts',
   'a copy-on-write the trace does not show (kernel-mode write, page_fault_kernel not traced) or a mapping made before the trace'),
  ('refcount_below_mapcount_plus_pins', 'a folio''s refcount is at least its mapcount plus its FOLL_PIN pincount', 'invariants.ts',
   'references taken before the trace began'),
  ('counter_negative', 'a folio''s mapcount and pincount never go below zero', 'invariants.ts', 'an unmap or unpin of a page mapped or pinned before the trace'),
  ('pte_outside_vma', 'every PTE the model holds lies inside one of its mm''s VMAs', 'invariants.ts', 'a VMA change the trace does not show'),
  ('device_exclusive_without_reference', 'a device-exclusive entry keeps a reference on its folio', 'invariants.ts',
   'a device-exclusive design that drops the reference it should hold (counterfactual designs)'),
  ('rss_negative', 'an mm''s RSS counters (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES) never go below zero', 'invariants.ts',
   'pages mapped before the trace began'),
  ('wp_decision', 'do_wp_page reuses or copies as the trace shows (an allocation inside the fault means a copy)', 'memory.ts',
   'lost events around the fault, or a refcount the model does not know'),
  ('pfn_reused_while_mapped', 'a PFN the kernel allocates is not still mapped by a folio the model holds', 'model.ts',
   'a free the trace lost or never recorded'),
  ('refcount_negative', 'a folio''s refcount never goes below zero', 'model.ts', 'a reference taken before the trace began'),
  ('rmap_missing', 'a folio being unmapped at (mm, va) is mapped there in the model', 'model.ts', 'a mapping made before the trace or by an untraced path'),
  ('mapcount_negative', 'a folio''s mapcount never goes below zero', 'model.ts', 'a mapping made before the trace began'),
  ('collapse_unplaced', 'each page khugepaged or MADV_COLLAPSE isolates is mapped somewhere the model knows', 'adapter.ts',
   'a page mapped before the trace began')
) AS t(rule, checks, raised_in, likely);

-- Every invariant violation, with whether it was found inside a CPU's lossy window.
-- @requires invariant_violations, lossy_windows
CREATE OR REPLACE VIEW violations (
  file_id,     -- files.file_id
  design,      -- the device-exclusive design replayed
  event_id,    -- events.id of the event being replayed when the rule failed
  ts,          -- its time (ns)
  rule,        -- invariant_rules.rule
  label,       -- kernel | pre-trace | lost-events | model | untraced | divergence: whose fault it can be
  explanation, -- what the model saw
  lossy        -- ts falls in a CPU's lossy window (lossy_windows): events lost on some CPU just
               -- before it may explain it
) AS
SELECT file_id, design, event_id, ts, rule, label, explanation, in_lossy_window(file_id, ts, ts)
FROM invariant_violations;

-- Invariant violations counted by rule and label, with what the rule checks.
-- @requires violations, invariant_rules
CREATE OR REPLACE VIEW invariant_summary (
  file_id,     -- files.file_id
  rule,        -- invariant_rules.rule
  label,       -- kernel | pre-trace | lost-events | model | untraced: whose fault it can be
  violations,  -- rows of invariant_violations
  lossy,       -- of which inside a CPU's lossy window (violations.lossy)
  first_ts,    -- first violation (ns, trace clock)
  checks,      -- what the rule checks (NULL if the rule is not registered)
  example      -- one violation's explanation
) AS
SELECT v.file_id, v.rule, v.label, count(*), count(*) FILTER (v.lossy), min(v.ts), any_value(r.checks), min(v.explanation)
FROM violations v LEFT JOIN invariant_rules r USING (rule)
GROUP BY v.file_id, v.rule, v.label;
