// The replay as a timeline for the Perfetto UI or chrome://tracing: Chrome trace-event JSON
// (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
//
// Tracks: one process per mm (its tasks as threads: culprit events are instants on the task that
// ran them, RSS a counter per member), and one process per design whose threads are its requests:
// the request a slice, its make_device_exclusive_range calls slices inside it, each page's
// GUP-to-walk window an async slice, and the culprit events that took a page of the request as
// instants. Timestamps are microseconds on the trace clock; events are sorted so every track's ts
// never decreases.
import fs from 'node:fs';
import type { Db } from '../store/db.js';
import { ensureViews } from './charts/render.js';
import { rowsOf } from './charts/registry.js';

export interface TraceEvent {
  name: string;
  ph: 'X' | 'b' | 'e' | 'i' | 'C' | 'M';
  ts: number;
  pid: number;
  tid?: number;
  dur?: number;
  cat?: string;
  id?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

/** Synthetic pids: mm tracks and design tracks must not collide with each other. */
export const MM_PID = (mm: number) => 1_000_000 + mm;
export const DESIGN_PID = (i: number) => 2_000_000 + i;
/** A request's thread: unique across designs. */
export const REQUEST_TID = (designIndex: number, fileId: number, requestId: number) =>
  10_000_000 * (designIndex + 1) + 100_000 * fileId + requestId;

const us = (ns: unknown) => Number(ns) / 1000;
const hex = (v: unknown) => (v == null ? null : `0x${BigInt(v as number).toString(16)}`);

export interface PerfettoOptions {
  designs?: string[];
  /** Windows of failed pages only (smaller files on long traces). */
  failedWindowsOnly?: boolean;
}

export async function perfettoTrace(
  db: Db,
  opts: PerfettoOptions = {},
): Promise<{
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  metadata: Record<string, unknown>;
}> {
  await ensureViews(db);
  const ev: TraceEvent[] = [];
  const meta: TraceEvent[] = [];
  const tables = new Set(await db.tables());
  const hasReplay = tables.has('mm') && tables.has('tasks');
  // mm tracks, their tasks, RSS counters.
  if (hasReplay) {
    for (const m of await rowsOf(
      db,
      `SELECT file_id, mm, tgid, comm, pre_trace FROM process_mm ORDER BY file_id, mm`,
    )) {
      const pid = MM_PID(Number(m.mm));
      meta.push({
        name: 'process_name',
        ph: 'M',
        ts: 0,
        pid,
        args: { name: `mm ${m.mm} · ${m.comm ?? '?'} (tgid ${m.tgid})` },
      });
      meta.push({
        name: 'process_sort_index',
        ph: 'M',
        ts: 0,
        pid,
        args: { sort_index: Number(m.mm) },
      });
    }
    for (const t of await rowsOf(db, `SELECT tid, mm, comm FROM tasks WHERE mm IS NOT NULL`)) {
      meta.push({
        name: 'thread_name',
        ph: 'M',
        ts: 0,
        pid: MM_PID(Number(t.mm)),
        tid: Number(t.tid),
        args: { name: `${t.comm} ${t.tid}` },
      });
    }
    if (tables.has('rss_check')) {
      for (const r of await rowsOf(
        db,
        `SELECT mm, ts, member, kernel_pages FROM mm_rss WHERE mm IS NOT NULL ORDER BY ts`,
      )) {
        ev.push({
          name: 'rss (pages)',
          ph: 'C',
          ts: us(r.ts),
          pid: MM_PID(Number(r.mm)),
          args: { [String(r.member)]: r.kernel_pages },
        });
      }
    }
  }
  if (tables.has('exclusive_requests')) {
    const all = (
      await rowsOf(db, `SELECT DISTINCT design FROM exclusive_requests ORDER BY design`)
    ).map((r) => String(r.design));
    const designs = opts.designs?.length ? all.filter((d) => opts.designs!.includes(d)) : all;
    const dIndex = new Map(designs.map((d, i) => [d, i]));
    const inList = designs.map((d) => `'${d.replace(/'/g, "''")}'`).join(', ') || "''";
    designs.forEach((d, i) => {
      meta.push({
        name: 'process_name',
        ph: 'M',
        ts: 0,
        pid: DESIGN_PID(i),
        args: { name: `device-exclusive requests · design ${d}` },
      });
      meta.push({
        name: 'process_sort_index',
        ph: 'M',
        ts: 0,
        pid: DESIGN_PID(i),
        args: { sort_index: 100 + i },
      });
    });
    const tidOf = (r: Record<string, unknown>) =>
      REQUEST_TID(dIndex.get(String(r.design))!, Number(r.file_id), Number(r.request_id));
    for (const r of await rowsOf(
      db,
      `SELECT * FROM exclusive_request_results WHERE design IN (${inList})`,
    )) {
      const pid = DESIGN_PID(dIndex.get(String(r.design))!);
      const tid = tidOf(r);
      meta.push({
        name: 'thread_name',
        ph: 'M',
        ts: 0,
        pid,
        tid,
        args: { name: `request ${r.request_id} (${r.npages} pages)` },
      });
      meta.push({
        name: 'thread_sort_index',
        ph: 'M',
        ts: 0,
        pid,
        tid,
        args: { sort_index: Number(r.request_id) },
      });
      ev.push({
        name: `request ${r.request_id}: ${r.npages} pages → ${r.result}${r.kernel_result != null ? ` (kernel ${r.kernel_result})` : ''}`,
        cat: 'request',
        ph: 'X',
        ts: us(r.ts),
        dur: us(r.dur),
        pid,
        tid,
        args: {
          design: r.design,
          request_id: r.request_id,
          file_id: r.file_id,
          npages: r.npages,
          start_va: hex(r.start_va),
          result: r.result,
          kernel_result: r.kernel_result,
          failed_pages: r.failed_pages,
          enoent_pages: r.enoent_pages,
        },
      });
    }
    for (const c of await rowsOf(
      db,
      `SELECT * FROM exclusive_calls WHERE design IN (${inList}) AND request_id IS NOT NULL`,
    )) {
      ev.push({
        name: `make_device_exclusive_range: ${c.npages} pages, ${c.failed_pages} failed`,
        cat: 'call',
        ph: 'X',
        ts: us(c.ts),
        dur: us(c.dur),
        pid: DESIGN_PID(dIndex.get(String(c.design))!),
        tid: tidOf(c),
        args: {
          call_id: c.call_id,
          start_va: hex(c.start_va),
          npages: c.npages,
          gup_count: c.gup_count,
          result: c.result,
          failed_pages: c.failed_pages,
          observed_failed_pages: c.observed_failed_pages,
        },
      });
    }
    // Windows: from GUP's return (walk_ts - window_ns) to the walk.
    const pages = await rowsOf(
      db,
      `SELECT file_id, design, request_id, call_id, idx, address, outcome, cause, walk_ts - round(window_us * 1000)::BIGINT AS from_ts, walk_ts, culprit_event, culprit_ts, culprit, culprit_syscall
       FROM exclusive_request_pages WHERE design IN (${inList}) AND window_us IS NOT NULL AND request_id IS NOT NULL ${opts.failedWindowsOnly ? "AND outcome = 'failed'" : ''}`,
    );
    for (const p of pages) {
      const pid = DESIGN_PID(dIndex.get(String(p.design))!);
      const tid = tidOf(p);
      const id = `${p.design}:${p.file_id}:${p.call_id}:${p.idx}`;
      // One name per kind of window: the Perfetto UI merges a process's async slices of one name
      // into one track, so failed windows get a track of their own beside the others.
      const name =
        p.outcome === 'failed' ? `GUP-to-walk window: failed (${p.cause})` : 'GUP-to-walk window';
      const args = {
        call_id: p.call_id,
        idx: p.idx,
        address: hex(p.address),
        outcome: p.outcome,
        cause: p.cause,
      };
      ev.push({ name, cat: 'window', ph: 'b', ts: us(p.from_ts), pid, tid, id, args });
      ev.push({ name, cat: 'window', ph: 'e', ts: us(p.walk_ts), pid, tid, id });
      if (p.culprit_event != null) {
        ev.push({
          name: `culprit: ${p.culprit_syscall ?? p.culprit} took page ${p.idx}`,
          cat: 'culprit',
          ph: 'i',
          s: 't',
          ts: us(p.culprit_ts),
          pid,
          tid,
          args: {
            event_id: p.culprit_event,
            event: p.culprit,
            address: hex(p.address),
            call_id: p.call_id,
          },
        });
      }
    }
    // Culprit events on the mm track of the task that ran them, once per event.
    if (hasReplay) {
      for (const c of await rowsOf(
        db,
        `SELECT c.culprit_event, any_value(c.culprit) AS culprit, any_value(c.ts) AS ts, any_value(c.tid) AS tid, any_value(c.syscall) AS syscall,
                max(c.pages) AS pages, max(c.requests) AS requests, string_agg(DISTINCT c.design, ',' ORDER BY c.design) AS designs, any_value(t.mm) AS mm
         FROM culprit_events c LEFT JOIN tasks t ON t.file_id = c.file_id AND t.tid = c.tid
         WHERE c.design IN (${inList}) GROUP BY c.file_id, c.culprit_event`,
      )) {
        if (c.mm == null) continue;
        ev.push({
          name: `culprit: ${c.syscall ?? c.culprit} took ${c.pages} pinned page(s)`,
          cat: 'culprit',
          ph: 'i',
          s: 't',
          ts: us(c.ts),
          pid: MM_PID(Number(c.mm)),
          tid: Number(c.tid),
          args: {
            event_id: c.culprit_event,
            event: c.culprit,
            syscall: c.syscall,
            pages: c.pages,
            requests: c.requests,
            designs: c.designs,
          },
        });
      }
    }
  }
  // Per track, ts never decreases; a slice opens before the slices it contains.
  ev.sort(
    (a, b) =>
      a.ts - b.ts ||
      (b.dur ?? 0) - (a.dur ?? 0) ||
      (a.ph === 'e' ? -1 : 0) - (b.ph === 'e' ? -1 : 0),
  );
  return {
    traceEvents: [...meta, ...ev],
    displayTimeUnit: 'ns',
    metadata: { 'mmreplay-db': db.path },
  };
}

export async function writePerfetto(
  db: Db,
  file: string,
  opts: PerfettoOptions = {},
): Promise<number> {
  const t = await perfettoTrace(db, opts);
  fs.writeFileSync(file, JSON.stringify(t));
  return t.traceEvents.length;
}
