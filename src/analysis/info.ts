// The summary `mmreplay info` prints: files, time span, CPUs, events by name, losses, unparsed lines.
import type { Db } from '../store/db.js';

export interface TraceInfo {
  files: Record<string, unknown>[];
  span: {
    first_ts_ns: bigint | null;
    last_ts_ns: bigint | null;
    duration_s: number | null;
    cpus: number;
    tasks: number;
  };
  events: { event: string; count: number }[];
  lost: { file_id: number; cpu: number | null; markers: number; events_lost: number | null }[];
  unparsed: { file_id: number; line_no: number; reason: string; text: string }[];
  fieldErrors: number;
}

export async function traceInfo(db: Db): Promise<TraceInfo> {
  const files = await db.rows(
    `SELECT file_id, path, format, compression, lines, header_lines, bytes, events, filtered, unparsed, lost FROM files ORDER BY file_id`,
  );
  const [span] = await db.rows<TraceInfo['span']>(
    `SELECT min(ts_ns) AS first_ts_ns, max(ts_ns) AS last_ts_ns, (max(ts_ns) - min(ts_ns)) / 1e9 AS duration_s,
            count(DISTINCT cpu)::INTEGER AS cpus, count(DISTINCT tid)::INTEGER AS tasks FROM events`,
  );
  const events = await db.rows<{ event: string; count: number }>(
    `SELECT event, count(*)::BIGINT AS count FROM events GROUP BY event ORDER BY count DESC, event`,
  );
  const lost = await db.rows<TraceInfo['lost'][number]>(
    `SELECT file_id, cpu, count(*)::INTEGER AS markers, sum(count)::BIGINT AS events_lost FROM lost_events GROUP BY ALL ORDER BY ALL`,
  );
  const unparsed = await db.rows<TraceInfo['unparsed'][number]>(
    `SELECT file_id, line_no, reason, text FROM unparsed ORDER BY file_id, line_no LIMIT 20`,
  );
  const [fe] = await db.rows<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM field_errors`);
  return { files, span, events, lost, unparsed, fieldErrors: fe.n };
}
