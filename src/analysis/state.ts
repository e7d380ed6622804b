// `mmreplay state`: a process's page table at one instant, reconstructed by the replay.
import { InputError } from '../errors.js';
import type { Db } from '../store/db.js';
import { PagingGeometry, type PagingLevels } from '../replay/pgtable.js';

export interface StateRow {
  va: string;
  /** Table indices of va, top down (pgd.pud.pmd.pte, or pgd.p4d.pud.pmd.pte with 5 levels). */
  path: string;
  kind: string;
  pfn: string | null;
  flags: string;
  confidence: string;
  since_ns: bigint;
  source_event: bigint;
}

/** Entries of pid's address space at `at` (ns), optionally within [from, to). */
export async function pageTableAt(
  db: Db,
  pid: number,
  at: bigint,
  range?: [bigint, bigint],
): Promise<{ mm: number | null; levels: PagingLevels; rows: StateRow[] }> {
  const t = await db.rows<{ mm: number | null }>(
    `SELECT mm FROM tasks WHERE tid = ${pid} OR tgid = ${pid} ORDER BY (tid = ${pid}) DESC LIMIT 1`,
  );
  if (!t.length)
    throw new InputError(
      `${db.path}: no task ${pid} in the replay (see: mmreplay query ${db.path} "SELECT * FROM tasks")`,
    );
  const mm = t[0].mm;
  const [run] = await db.rows<{ levels: number }>(`SELECT max(levels) AS levels FROM replay_runs`);
  const geo = new PagingGeometry(run?.levels === 5 ? 5 : 4);
  if (mm === null) return { mm, levels: geo.levels, rows: [] };
  const where = range ? ` AND va >= ${range[0]} AND va < ${range[1]}` : '';
  const rows = await db.rows<StateRow>(
    `SELECT printf('0x%x', va) AS va, '' AS path, kind, CASE WHEN pfn IS NULL THEN NULL ELSE printf('0x%x', pfn) END AS pfn,
            concat(CASE WHEN write THEN 'w' ELSE '-' END, CASE WHEN dirty THEN 'd' ELSE '-' END, CASE WHEN soft_dirty THEN 's' ELSE '-' END,
                   CASE WHEN uffd_wp THEN 'u' ELSE '-' END, CASE WHEN pmd THEN 'H' ELSE '-' END, CASE WHEN zero_page THEN 'z' ELSE '-' END) AS flags,
            confidence, ts AS since_ns, source_event
     FROM pte_intervals WHERE mm = ${mm} AND ts <= ${at} AND ts + dur > ${at} AND kind <> 'none'${where} ORDER BY va`,
  );
  for (const r of rows) r.path = Object.values(geo.indices(Number(r.va))).join('.');
  return { mm, levels: geo.levels, rows };
}
