// The event view (src/replay/event_view.ts): each field is read by the name fields.ts gives it, at
// the slot the input projects it to, and every kprobe role's wants line up with those names.
import { describe, expect, it } from 'vitest';
import { EventView } from '../src/replay/event_view.js';
import { fieldsOf, NUM_FIELDS, PROBE_FIELDS, STR_FIELDS } from '../src/replay/fields.js';
import { eventBatch, SLOTS } from '../src/replay/input.js';
import { ROLES } from '../src/replay/probe_table.js';

describe('event view', () => {
  it('names each kprobe role the values its wants read, one name a want', () => {
    for (const r of ROLES) {
      const f = PROBE_FIELDS[r.role as keyof typeof PROBE_FIELDS];
      expect([r.role, r.funcs[0], f?.nums.length]).toEqual([r.role, r.funcs[0], r.nums.length]);
      // A role's string is optional for a function without it (make_device_exclusive's return).
      if (r.s) expect([r.role, 's' in f]).toEqual([r.role, true]);
    }
    expect(Object.keys(PROBE_FIELDS).sort()).toEqual([...new Set(ROLES.map((r) => r.role))].sort());
  });

  it('gives no event more fields than a batch has slots, nor a name twice', () => {
    for (const ev of ['syscalls:sys_enter_mmap', 'kmem:rss_stat', 'kprobe:uffd_wp_range']) {
      const f = fieldsOf(ev)!;
      expect(f.nums.length).toBeLessThanOrEqual(SLOTS);
      expect(new Set(f.nums).size).toBe(f.nums.length);
    }
    expect(new Set([...NUM_FIELDS, ...STR_FIELDS]).size).toBe(
      NUM_FIELDS.length + STR_FIELDS.length,
    );
  });

  it('reads a batch event by name, NULL and absent fields as null, with no object per event', () => {
    const b = eventBatch(2);
    b.n = 2;
    b.k.set([0, 1]);
    b.comm.set([0, 0]);
    b.slots.fill(NaN);
    b.slots.set([0x7f0000001000, 6], 0);
    b.slots.set([0, 4096, 1], SLOTS);
    b.s.set([-1, -1]);
    const view = new EventView(
      ['exceptions:page_fault_user', 'syscalls:sys_enter_mprotect'],
      ['w'],
    );
    const e = view.at(b, 0);
    expect([e.address, e.error_code, e.ip, e.len]).toEqual([0x7f0000001000, 6, null, null]);
    expect(view.at(b, 1)).toBe(e);
    expect([e.start, e.len, e.prot, e.address]).toEqual([0, 4096, 1, null]);
    // A detached copy keeps its fields when the view moves on.
    const kept = e.detach();
    view.at(b, 0);
    expect([kept.event, kept.len, e.len]).toEqual(['syscalls:sys_enter_mprotect', 4096, null]);
  });

  it('makes an event from its fields by name, and refuses a name the event does not have', () => {
    const common = { id: 1, ts: 2n, cpu: 0, tid: 3, tgid: 3, comm: 'w' };
    const e = EventView.of('task:task_newtask', common, { pid: 4, child_comm: 'child' });
    expect([e.pid, e.clone_flags, e.child_comm, e.buf]).toEqual([4, null, 'child', null]);
    expect(() => EventView.of('kmem:rss_stat', common, { address: 1 })).toThrow(/no field address/);
  });
});
