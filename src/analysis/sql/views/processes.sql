-- Processes and address spaces: who ran, which mm each task used, and RSS over time.

-- One row per address space (struct mm_struct) the replay followed, with its owner.
-- @requires mm, tasks
CREATE OR REPLACE VIEW process_mm (
  file_id,     -- files.file_id
  mm,          -- mm.mm, the replay's id
  tgid,        -- owning process
  comm,        -- the owner's last command name
  threads,     -- tasks that used this mm
  first_ts,    -- first seen (ns)
  last_ts,     -- last event of any of its tasks (ns)
  pre_trace    -- existed before the trace began
) AS
SELECT m.file_id, m.mm, m.tgid,
       (SELECT t.comm FROM tasks t WHERE t.file_id = m.file_id AND t.tid = m.tgid),
       (SELECT count(*) FROM tasks t WHERE t.file_id = m.file_id AND t.mm = m.mm),
       m.first_ts,
       (SELECT max(t.last_ts) FROM tasks t WHERE t.file_id = m.file_id AND t.mm = m.mm),
       m.pre_trace
FROM mm m;

-- Each mm's RSS counters over time, as the kernel's rss_stat reported them and as the model
-- counted them: one row per rss_stat event.
-- @requires rss_check
CREATE OR REPLACE VIEW mm_rss (
  file_id,     -- files.file_id
  mm,          -- mm.mm (NULL when the rss_stat's mm is not one the model follows)
  ts,          -- the rss_stat event (ns)
  member,      -- MM_FILEPAGES | MM_ANONPAGES | MM_SWAPENTS | MM_SHMEMPAGES
  kernel_pages,-- the kernel's counter, in pages
  model_pages, -- the model's counter at that instant, in pages
  match        -- kernel_pages = model_pages; NULL for calibration rows
) AS
SELECT file_id, mm, ts, member, kernel_value, model_value, match FROM rss_check;
