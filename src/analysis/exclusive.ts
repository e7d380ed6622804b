// The device-exclusive failure summary `mmreplay exclusive` prints, per design.
import type { Db } from '../store/db.js';

export interface ExclusiveSummary {
  design: string;
  overview: Record<string, unknown>[];
  causes: Record<string, unknown>[];
  culprits: Record<string, unknown>[];
  bySize: Record<string, unknown>[];
  agreement: Record<string, unknown>[];
}

export async function designs(db: Db): Promise<string[]> {
  if (!(await db.tables()).includes('exclusive_requests')) return [];
  return (
    await db.rows<{ design: string }>(
      `SELECT DISTINCT design FROM exclusive_requests ORDER BY design`,
    )
  ).map((r) => r.design);
}

export async function exclusiveSummary(db: Db, design: string): Promise<ExclusiveSummary> {
  const d = `'${design.replace(/'/g, "''")}'`;
  const overview = await db.rows(
    `SELECT (SELECT count(*) FROM exclusive_requests WHERE design = ${d}) AS requests,
            (SELECT count(*) FILTER (predicted_result <> 0) FROM exclusive_requests WHERE design = ${d}) AS failed_requests,
            count(*) AS calls, count(*) FILTER (failed_pages > 0) AS failed_calls,
            sum(npages) AS pages, sum(failed_pages) AS failed_pages
     FROM exclusive_calls WHERE design = ${d}`,
  );
  const causes = await db.rows(
    `SELECT cause, count(*) AS pages, round(median(window_ns) / 1000, 1) AS median_window_us FROM exclusive_pages
     WHERE design = ${d} AND outcome = 'failed' GROUP BY cause ORDER BY pages DESC`,
  );
  const culprits = await db.rows(
    `SELECT culprit, culprit_comm AS comm, culprit_tid AS tid, count(*) AS pages, count(DISTINCT call_id) AS calls
     FROM exclusive_failures WHERE design = ${d} AND culprit IS NOT NULL GROUP BY ALL ORDER BY pages DESC LIMIT 10`,
  );
  const bySize = await db.rows(
    `SELECT npages, count(*) AS requests, count(*) FILTER (predicted_result = -16) AS ebusy, count(*) FILTER (predicted_result = -2) AS enoent,
            round(avg((predicted_result <> 0)::INT), 3) AS failure_rate,
            count(*) FILTER (observed_result IS NOT NULL AND observed_result <> 0) AS kernel_failed
     FROM exclusive_requests WHERE design = ${d} GROUP BY npages ORDER BY npages`,
  );
  const agreement = await db.rows(
    `SELECT level, count(*) FILTER (observed IS NOT NULL) AS decided_by_kernel, count(*) FILTER (agree) AS agree,
            count(*) FILTER (NOT agree) AS disagree, round(avg(agree::INT), 4) AS agreement
     FROM exclusive_agreement WHERE design = ${d} GROUP BY level ORDER BY level DESC`,
  );
  return { design, overview, causes, culprits, bySize, agreement };
}
