// Stacks ftrace records after each event (options/stacktrace, userstacktrace; a stacktrace
// trigger prints the same): the `<stack trace>` line is a kernel_stack event and each ` => ` line
// under it a callchain_frames row. One buffer (traces/host/stacks, capture-stacks.sh) as tracefs
// printed it and as `trace-cmd report` printed it from the extracted .dat.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Db } from '../src/store/db.js';
import { HOST, ingestTemp } from './helpers.js';

const DIR = path.join(HOST, 'stacks');

/** The kernel stacks' frames, each with its stack event, in order. */
const FRAMES = `SELECT e.event, e.ts_ns // 1000 AS ts_us, f.depth, f.symbol
  FROM callchain_frames f JOIN events e ON e.file_id = f.file_id AND e.line_no = f.event_line_no
  WHERE e.event = 'ftrace:kernel_stack' ORDER BY f.line_no`;

async function counts(db: Db) {
  return db.rows<{ event: string; n: bigint }>(
    'SELECT event, count(*) AS n FROM events GROUP BY 1 ORDER BY 1',
  );
}

describe('stack traces under events', async () => {
  const text = await ingestTemp([path.join(DIR, 'trace.txt.xz')]);
  const report = await ingestTemp([path.join(DIR, 'report.txt.xz')]);

  it('tracefs text: every line is an event or a frame of the stack event before it', async () => {
    const { db, files } = text;
    expect(files[0].unparsed).toBe(0);
    const n = await counts(db);
    const of = (e: string) => Number(n.find((r) => r.event === e)?.n ?? 0);
    expect(of('ftrace:kernel_stack')).toBeGreaterThan(100);
    // One kernel and one user stack per event.
    expect(of('ftrace:kernel_stack')).toBe(of('kmem:rss_stat') + of('exceptions:page_fault_user'));
    expect(of('ftrace:user_stack')).toBe(of('ftrace:kernel_stack'));
    const [{ lines, frames, orphans }] = await db.rows<{
      lines: bigint;
      frames: bigint;
      orphans: bigint;
    }>(
      `SELECT (SELECT lines - header_lines - events FROM files) AS lines, count(*) AS frames,
        count(*) FILTER (WHERE e.event NOT IN ('ftrace:kernel_stack', 'ftrace:user_stack')) AS orphans
       FROM callchain_frames f JOIN events e ON e.line_no = f.event_line_no`,
    );
    expect(frames).toBe(lines);
    expect(orphans).toBe(0n);
    // A user stack's frames are addresses alone.
    const [u] = await db.rows<{ ip: bigint | null; symbol: string | null }>(
      `SELECT f.ip, f.symbol FROM callchain_frames f JOIN events e ON e.line_no = f.event_line_no
       WHERE e.event = 'ftrace:user_stack' LIMIT 1`,
    );
    expect(u.symbol).toBeNull();
    expect(u.ip).toBeGreaterThan(0n);
  });

  it('trace-cmd report of the same buffer: the same events and the same kernel frames, with their addresses', async () => {
    expect(report.files[0].unparsed).toBe(0);
    expect(await counts(report.db)).toEqual(await counts(text.db));
    const a = await text.db.rows(FRAMES);
    expect(a.length).toBeGreaterThan(1000);
    expect(await report.db.rows(FRAMES)).toEqual(a);
    const [{ unnamed }] = await report.db.rows<{ unnamed: bigint }>(
      `SELECT count(*) FILTER (WHERE ip IS NULL OR ip < 18446462598732840960) AS unnamed
       FROM callchain_frames f JOIN events e ON e.line_no = f.event_line_no
       WHERE e.event = 'ftrace:kernel_stack'`,
    );
    expect(unnamed).toBe(0n);
    text.db.close();
    report.db.close();
  });
});
