// A synthetic trace's ground truth against its replay (the round-trip tests and bench/synth.ts).
import type { Db } from '../store/db.js';
import { quoteString } from '../store/db.js';
import { truthFiles } from './truth.js';

export interface Mismatch {
  kind: 'request' | 'page';
  key: string;
  truth: string;
  replay: string;
  /** The known replay gap the truth names for this page (or a page of this request). */
  gap?: string;
}

/**
 * Loads a synthetic trace's truth into TEMP tables and lists every request and page where the
 * replay (design `design`, file `fileId`) differs: result, size and start per request; outcome,
 * cause, pinned PFN and culprit line per page. A row on one side only is a mismatch too.
 * `mismatches` are those no known gap explains; `explained`, those on a page whose truth names a
 * gap of the replay (truth_pages.gap), or on a request with such a page.
 */
export async function compareTruth(
  db: Db,
  trace: string,
  fileId: number,
  design = '5.14',
): Promise<{ requests: number; pages: number; mismatches: Mismatch[]; explained: Mismatch[] }> {
  const f = truthFiles(trace);
  await db.run(
    `CREATE OR REPLACE TEMP TABLE truth_requests AS SELECT * FROM read_csv(${quoteString(f.requests)}, header = true)`,
  );
  await db.run(
    `CREATE OR REPLACE TEMP TABLE truth_pages AS SELECT * FROM read_csv(${quoteString(f.pages)}, header = true, types = {'culprit_line': 'BIGINT', 'gap': 'VARCHAR'})`,
  );
  const req = await db.rows<{ request_id: number; t: string; r: string; gap: string | null }>(
    `SELECT coalesce(t.request_id, r.request_id) AS request_id,
            concat_ws(' ', t.result, t.npages, t.start_va) AS t, concat_ws(' ', r.predicted_result, r.npages, r.start_va) AS r,
            (SELECT min(g.gap) FROM truth_pages g WHERE g.request_id = t.request_id) AS gap
     FROM truth_requests t FULL JOIN (SELECT * FROM exclusive_requests WHERE file_id = ${fileId} AND design = '${design}') r USING (request_id)
     WHERE r.predicted_result IS DISTINCT FROM t.result OR r.npages IS DISTINCT FROM t.npages OR r.start_va IS DISTINCT FROM t.start_va
     ORDER BY 1`,
  );
  const pages = await db.rows<{ k: string; t: string; r: string; gap: string | null }>(
    `SELECT concat(coalesce(t.call_id, p.call_id), '/', coalesce(t.idx, p.idx)) AS k, t.gap,
            concat_ws(' ', t.outcome, t.cause, t.gup_pfn, t.culprit_line) AS t, concat_ws(' ', p.outcome, p.cause, p.gup_pfn, e.line_no) AS r
     FROM truth_pages t
     FULL JOIN (SELECT * FROM exclusive_pages WHERE file_id = ${fileId} AND design = '${design}') p ON p.call_id = t.call_id AND p.idx = t.idx
     LEFT JOIN events e ON e.id = p.culprit_event
     WHERE p.outcome IS DISTINCT FROM t.outcome OR p.cause IS DISTINCT FROM t.cause OR p.gup_pfn IS DISTINCT FROM t.gup_pfn
        OR e.line_no IS DISTINCT FROM t.culprit_line
     ORDER BY t.call_id, t.idx`,
  );
  const [{ nr }] = await db.rows<{ nr: bigint }>(`SELECT count(*) AS nr FROM truth_requests`);
  const [{ np }] = await db.rows<{ np: bigint }>(`SELECT count(*) AS np FROM truth_pages`);
  const all: Mismatch[] = [
    ...req.map((m) => ({
      kind: 'request' as const,
      key: String(m.request_id),
      truth: m.t,
      replay: m.r,
      ...(m.gap ? { gap: m.gap } : {}),
    })),
    ...pages.map((m) => ({
      kind: 'page' as const,
      key: m.k,
      truth: m.t,
      replay: m.r,
      ...(m.gap ? { gap: m.gap } : {}),
    })),
  ];
  return {
    requests: Number(nr),
    pages: Number(np),
    mismatches: all.filter((m) => !m.gap),
    explained: all.filter((m) => m.gap),
  };
}
