// Adapter rules on hand-made sequences. rss_check: a concurrent fault on another CPU may explain a
// kernel count one above the model's, never one below it.
import { describe, expect, it } from 'vitest';
import { Adapter, type RssRow } from '../src/replay/adapter.js';
import { EventView } from '../src/replay/event_view.js';
import { semantics } from '../src/replay/kernel.js';
import { Model } from '../src/replay/model.js';
import type { Task } from '../src/replay/types.js';

function harness() {
  const rows: RssRow[] = [];
  const tasks: Task[] = [];
  const out = {
    pte() {},
    folio() {},
    vma() {},
    violation() {},
    rss: (r: RssRow) => rows.push(r),
    pgtable() {},
    checkpoint() {},
    request() {},
    call() {},
    page() {},
    task: (t: Task) => tasks.push({ ...t }),
  };
  const m = new Model(semantics('6.18'), out);
  const a = new Adapter(m, out, { thp: 'madvise', allocsTraced: false, design: null });
  let id = 0;
  const ev = (tid: number, event: string, f: Parameters<typeof EventView.of>[2] = {}) => {
    id++;
    const e = EventView.of(
      event,
      { id, ts: BigInt(id) * 1000n, cpu: 0, tid, tgid: 100, comm: 'w' },
      f,
    );
    m.now = e.ts;
    m.eventId = e.id;
    a.handle(e);
  };
  const rss = (tid: number, pages: number) =>
    ev(tid, 'kmem:rss_stat', { mm_id: 7, member: 1, size: pages * 4096 });
  ev(100, 'task:task_newtask', { pid: 101, clone_flags: 0x3d0f00 });
  ev(100, 'syscalls:sys_enter_mmap', {
    addr: 0,
    len: 8 * 4096,
    prot: 3,
    flags: 0x22,
    fd: -1,
    off: 0,
  });
  ev(100, 'syscalls:sys_exit_mmap', { ret: 0x7f0000000000 });
  rss(100, 10); // calibration
  return { ev, rss, rows, tasks, m };
}

describe('rss_check rules', () => {
  it('accepts the kernel counting a fault another thread has not finished yet', () => {
    const h = harness();
    h.ev(101, 'exceptions:page_fault_user', { address: 0x7f0000001000, error_code: 6 }); // thread 101's fault, pending
    h.ev(100, 'exceptions:page_fault_user', { address: 0x7f0000000000, error_code: 6 });
    h.rss(100, 12); // both faults already counted by the kernel
    expect(h.rows[1]).toMatchObject({
      kernel: 12,
      model: 11,
      match: true,
      note: 'counted a concurrent fault on another CPU first',
    });
  });

  it('does not accept a kernel count below the model', () => {
    const h = harness();
    h.ev(101, 'exceptions:page_fault_user', { address: 0x7f0000001000, error_code: 6 });
    h.ev(100, 'exceptions:page_fault_user', { address: 0x7f0000000000, error_code: 6 });
    h.rss(100, 10);
    expect(h.rows[1]).toMatchObject({ kernel: 10, model: 11, match: false });
  });
});

describe('tasks', () => {
  it('writes the row of a task whose pid a new task takes, instead of losing it', () => {
    const h = harness();
    h.ev(101, 'sched:sched_process_exit', { pid: 101 });
    h.ev(100, 'task:task_newtask', { pid: 101, clone_flags: 0x3d0f00, child_comm: 'again' });
    expect(h.tasks).toMatchObject([{ tid: 101, comm: 'w', exited: true }]);
    expect(h.m.tasks.get(101)).toMatchObject({ comm: 'again', exited: false });
  });
});

describe('page allocator events without their PFN (a damaged field)', () => {
  it('are passed over: the fault maps a page of unknown PFN, and the free names no folio', () => {
    const h = harness();
    const va = 0x7f0000000000;
    h.ev(100, 'exceptions:page_fault_user', { address: va, error_code: 6 });
    h.ev(100, 'kmem:mm_page_alloc', { pfn: null, order: 0, gfp_flags: 'GFP_HIGHUSER_MOVABLE' });
    h.ev(100, 'kmem:mm_page_free', { pfn: null, order: 0 });
    h.rss(100, 11); // ends the fault
    const p = h.m.pte(h.m.tasks.get(100)!.mm!, va);
    expect(p?.kind).toBe('present');
    expect(p?.folio?.pfn).toBeNull();
    expect(p?.folio?.freed).toBe(false);
  });
});
