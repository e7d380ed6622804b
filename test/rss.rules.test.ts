// Adapter rules on hand-made sequences. rss_check: a concurrent fault on another CPU may explain a
// kernel count one above the model's, never one below it.
import { describe, expect, it } from 'vitest';
import { Adapter, type ReplayEvent, type RssRow } from '../src/replay/adapter.js';
import { semantics } from '../src/replay/kernel.js';
import { Model } from '../src/replay/model.js';
import type { Task } from '../src/replay/types.js';

function harness() {
  const rows: RssRow[] = [];
  const tasks: Task[] = [];
  const out = { pte() {}, folio() {}, vma() {}, violation() {}, rss: (r: RssRow) => rows.push(r), pgtable() {}, checkpoint() {}, request() {}, call() {}, page() {}, task: (t: Task) => tasks.push({ ...t }) };
  const m = new Model(semantics('6.18'), out);
  const a = new Adapter(m, out, { thp: 'madvise', allocsTraced: false, design: null });
  let id = 0n;
  const ev = (tid: number, event: string, f: Partial<ReplayEvent> = {}) => {
    id++;
    const e: ReplayEvent = { id, ts: id * 1000n, cpu: 0, tid, tgid: 100, comm: 'w', event, a: null, b: null, c: null, d: null, e: null, f: null, s: null, ...f };
    m.now = e.ts;
    m.eventId = e.id;
    a.handle(e);
  };
  const rss = (tid: number, pages: number) => ev(tid, 'kmem:rss_stat', { a: 7, b: 1, c: pages * 4096 });
  ev(100, 'task:task_newtask', { a: 101, b: 0x3d0f00 });
  ev(100, 'syscalls:sys_enter_mmap', { a: 0, b: 8 * 4096, c: 3, d: 0x22, e: -1, f: 0 });
  ev(100, 'syscalls:sys_exit_mmap', { a: 0x7f0000000000 });
  rss(100, 10); // calibration
  return { ev, rss, rows, tasks, m };
}

describe('rss_check rules', () => {
  it('accepts the kernel counting a fault another thread has not finished yet', () => {
    const h = harness();
    h.ev(101, 'exceptions:page_fault_user', { a: 0x7f0000001000, b: 6 }); // thread 101's fault, pending
    h.ev(100, 'exceptions:page_fault_user', { a: 0x7f0000000000, b: 6 });
    h.rss(100, 12); // both faults already counted by the kernel
    expect(h.rows[1]).toMatchObject({ kernel: 12, model: 11, match: true, note: 'counted a concurrent fault on another CPU first' });
  });

  it('does not accept a kernel count below the model', () => {
    const h = harness();
    h.ev(101, 'exceptions:page_fault_user', { a: 0x7f0000001000, b: 6 });
    h.ev(100, 'exceptions:page_fault_user', { a: 0x7f0000000000, b: 6 });
    h.rss(100, 10);
    expect(h.rows[1]).toMatchObject({ kernel: 10, model: 11, match: false });
  });
});

describe('tasks', () => {
  it('writes the row of a task whose pid a new task takes, instead of losing it', () => {
    const h = harness();
    h.ev(101, 'sched:sched_process_exit', { a: 101 });
    h.ev(100, 'task:task_newtask', { a: 101, b: 0x3d0f00, s: 'again' });
    expect(h.tasks).toMatchObject([{ tid: 101, comm: 'w', exited: true }]);
    expect(h.m.tasks.get(101)).toMatchObject({ comm: 'again', exited: false });
  });
});
