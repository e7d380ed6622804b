// One hand-checked interleaving per failure cause the lab traces do not produce, fed to the
// model as the events a trace would carry (the lab's kprobe names), each step commented.
import { describe, expect, it } from 'vitest';
import { Adapter, type ReplayEvent } from '../src/replay/adapter.js';
import { EventView } from '../src/replay/event_view.js';

type Fields = Parameters<typeof EventView.of>[2];
import {
  HMM_DMIRROR_EXCLUSIVE,
  type CallRow,
  type PageRow,
  type RequestRow,
} from '../src/replay/device_exclusive.js';
import { semantics } from '../src/replay/kernel.js';
import { Model } from '../src/replay/model.js';

const BASE = 0x7f0000000000;
const P = 4096;

function harness() {
  const pages: PageRow[] = [];
  const calls: CallRow[] = [];
  const requests: RequestRow[] = [];
  const violations: string[] = [];
  const out = {
    pte() {},
    folio() {},
    vma() {},
    violation: (rule: string, why: string) => violations.push(`${rule}: ${why}`),
    rss() {},
    pgtable() {},
    checkpoint() {},
    request: (r: RequestRow) => requests.push(r),
    call: (c: CallRow) => calls.push(c),
    page: (p: PageRow) => pages.push(p),
    task() {},
  };
  const m = new Model(semantics('6.12'), out);
  const a = new Adapter(m, out, { thp: 'madvise', allocsTraced: false, design: '5.14' });
  let ts = 1_000_000n;
  let id = 0;
  const ev = (tid: number, event: string, f: Fields = {}): ReplayEvent => {
    ts += 1000n;
    id++;
    const e = EventView.of(event, { id, ts, cpu: 0, tid, tgid: 100, comm: 'race' }, f);
    m.now = e.ts;
    m.eventId = e.id;
    m.tid = tid;
    a.dx!.advanceTo(e);
    a.handle(e);
    return e;
  };
  // A process (tid 100) with a racer thread (101), and an anonymous region of 8 written pages.
  const setup = (flags = 0x22) => {
    ev(100, 'task:task_newtask', { pid: 101, clone_flags: 0x3d0f00, child_comm: 'race' });
    ev(100, 'syscalls:sys_enter_mmap', {
      addr: 0,
      len: 8 * P,
      prot: 3,
      flags: flags,
      fd: -1,
      off: 0,
    });
    ev(100, 'syscalls:sys_exit_mmap', { ret: BASE });
    for (let i = 0; i < 8; i++)
      ev(100, 'exceptions:page_fault_user', { address: BASE + i * P, error_code: 6 });
  };
  // test_hmm's ioctl over [BASE, BASE + n pages): one chunk, GUP, then `between`, then the walks.
  const request = (n: number, between: () => void) => {
    ev(100, 'syscalls:sys_enter_ioctl', { fd: 3, cmd: HMM_DMIRROR_EXCLUSIVE });
    ev(100, 'kprobe:make_device_exclusive_range', { start: BASE, end: BASE + n * P });
    ev(100, 'kprobe:get_user_pages_remote', { start: BASE, nr_pages: n });
    ev(100, 'kretprobe:get_user_pages_remote', { ret: n, start: BASE });
    between();
    for (let i = 0; i < n; i++) ev(100, 'kprobe:rmap_walk', { pfn: null });
    ev(100, 'kretprobe:make_device_exclusive_range', { ret: n, start: BASE });
    ev(100, 'syscalls:sys_exit_ioctl', { ret: 0 });
  };
  return { ev, setup, request, pages, calls, requests, violations, m };
}

describe('device-exclusive causes, hand-checked interleavings (design 5.14, as 6.12)', () => {
  it('exclusive: nothing happens between GUP and the walk', () => {
    const h = harness();
    h.setup();
    h.request(4, () => {});
    expect(h.pages.map((p) => p.cause)).toEqual([
      'exclusive',
      'exclusive',
      'exclusive',
      'exclusive',
    ]);
    expect(h.requests[0].predicted).toBe(0);
  });

  it('replaced: the racer zaps page 1 after GUP pinned it; its refault maps a new page', () => {
    const h = harness();
    h.setup();
    let zap: ReplayEvent | undefined;
    h.request(4, () => {
      zap = h.ev(101, 'syscalls:sys_enter_madvise', { start: BASE + P, len_in: P, behavior: 4 });
      h.ev(101, 'syscalls:sys_exit_madvise', { ret: 0 });
      h.ev(101, 'exceptions:page_fault_user', { address: BASE + P, error_code: 6 });
    });
    expect(h.pages.map((p) => p.cause)).toEqual([
      'exclusive',
      'replaced',
      'exclusive',
      'exclusive',
    ]);
    expect(h.pages[1].culpritEvent).toBe(zap!.id);
    expect(h.requests[0].predicted).toBe(-16);
  });

  it('write_protected: page 2 is made read-only after GUP (the PTE change UFFDIO_WRITEPROTECT makes under the read lock)', () => {
    const h = harness();
    h.setup();
    let wp: ReplayEvent | undefined;
    h.request(4, () => {
      wp = h.ev(101, 'syscalls:sys_enter_mprotect', { start: BASE + 2 * P, len: P, prot: 1 });
      h.ev(101, 'syscalls:sys_exit_mprotect', { ret: 0 });
    });
    expect(h.pages.map((p) => p.cause)).toEqual([
      'exclusive',
      'exclusive',
      'write_protected',
      'exclusive',
    ]);
    expect(h.pages[2].culpritEvent).toBe(wp!.id);
  });

  it('trylock_failed: compaction holds page 0 locked while it tries to migrate it (and fails on the pin)', () => {
    const h = harness();
    h.setup();
    h.request(2, () => {
      h.ev(101, 'migrate:set_migration_pte', { addr: BASE, pte_pfn: 0 });
    });
    expect(h.pages.map((p) => p.cause)).toEqual(['trylock_failed', 'exclusive']);
    // The pin made the migration fail; the same page comes back.
    h.ev(101, 'migrate:remove_migration_pte', {
      addr: BASE,
      pte_pfn: Number(h.m.pte(h.m.mms[0], BASE)!.folio!.pfn ?? 0) * 4096,
    });
  });

  it('not_anon: a shared anonymous (shmem) mapping has no anonymous pages to convert', () => {
    const h = harness();
    h.setup(0x21); // MAP_SHARED | MAP_ANONYMOUS
    h.request(2, () => {});
    expect(h.pages.map((p) => p.cause)).toEqual(['not_anon', 'not_anon']);
  });

  it('gup_short: a range running past the VMA pins only what is mapped; test_hmm returns -EBUSY', () => {
    const h = harness();
    h.setup();
    h.ev(100, 'syscalls:sys_enter_ioctl', { fd: 3, cmd: HMM_DMIRROR_EXCLUSIVE });
    h.ev(100, 'kprobe:make_device_exclusive_range', { start: BASE + 6 * P, end: BASE + 10 * P });
    h.ev(100, 'kprobe:get_user_pages_remote', { start: BASE + 6 * P, nr_pages: 4 });
    h.ev(100, 'kretprobe:get_user_pages_remote', { ret: 2, start: BASE + 6 * P });
    h.ev(100, 'kprobe:rmap_walk', {});
    h.ev(100, 'kprobe:rmap_walk', {});
    h.ev(100, 'kretprobe:make_device_exclusive_range', { ret: 2, start: BASE + 6 * P });
    h.ev(100, 'syscalls:sys_exit_ioctl', { ret: -16 });
    expect(h.pages.map((p) => p.cause)).toEqual([
      'exclusive',
      'exclusive',
      'gup_short',
      'gup_short',
    ]);
    expect(h.calls[0].gupCount).toBe(2);
    expect(h.requests[0].predicted).toBe(-16);
  });
});
