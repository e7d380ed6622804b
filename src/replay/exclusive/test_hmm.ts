// lib/test_hmm.c's HMM_DMIRROR_EXCLUSIVE (6.12 dmirror_exclusive): a request per ioctl, cut into
// 64-page make_device_exclusive_range calls, its device page table (the mirror) kept by
// dmirror_interval_invalidate, and the final read (dmirror_do_read) that settles -ENOENT.
import type { DeviceExclusive } from '../device_exclusive.js';
import type { ReplayEvent } from '../adapter.js';
import { MMU_NOTIFY } from '../mmu_notifier.js';
import { PAGE_SIZE, type Mm, type Task } from '../types.js';
import { unlock } from './restore.js';
import { finishCall } from './make_device_exclusive_range.js';
import {
  EBUSY,
  ENOENT,
  HMM_DMIRROR_EXCLUSIVE,
  MIRROR_OWNER,
  READ_DELAY_NS,
  READ_RACE_NS,
  type Request,
} from './types.js';

/**
 * test_hmm's device page table of the file a request came through (one struct dmirror per open
 * of /dev/hmm_dmirrorN): fd -1 where no ioctl event names it.
 */
export function mirrorOf(dx: DeviceExclusive, mm: Mm, fd: number): Set<number> {
  let byFd = dx.mirrors.get(mm);
  if (!byFd) dx.mirrors.set(mm, (byFd = new Map()));
  let mirror = byFd.get(fd);
  if (!mirror) byFd.set(fd, (mirror = new Set()));
  return mirror;
}

/** sys_enter_ioctl(fd, cmd, arg): a driver request begins. */
export function ioctlEnter(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  if (e.cmd !== HMM_DMIRROR_EXCLUSIVE || !t.mm) return;
  const open = dx.requests.get(t.tid);
  if (open?.implicit) finishRequest(dx, open, open.lastReturn ?? e.ts, null);
  newRequest(dx, e, t, mirrorOf(dx, t.mm, e.fd ?? -1), false);
}

/** A request of task t, over the range its RACE_BEGIN marker announced if any. */
function newRequest(
  dx: DeviceExclusive,
  e: ReplayEvent,
  t: Task,
  mirror: Set<number>,
  implicit: boolean,
): Request {
  const range = dx.announced.get(t.tid);
  dx.announced.delete(t.tid);
  const r: Request = {
    id: dx.nextRequest++,
    ts: e.ts,
    task: t,
    mm: t.mm!,
    mirror,
    start: range?.start ?? null,
    npages: range?.npages ?? null,
    calls: 0,
    failedPages: 0,
    predicted: null,
    observed: null,
    call: null,
    readMissing: null,
    readTimed: false,
    readAt: null,
    readEarliest: null,
    readRace: false,
    implicit,
    nextStart: null,
    lastReturn: null,
    announced: range !== undefined,
  };
  dx.requests.set(t.tid, r);
  return r;
}

/** Pages of the request the mirror does not map (dmirror_do_read fails on the first: -ENOENT). */
export function missing(dx: DeviceExclusive, r: Request): number {
  const mirror = r.mirror;
  const s = Math.floor((r.start ?? 0) / PAGE_SIZE);
  let n = 0;
  for (let p = s; p < s + (r.npages ?? 0); p++) if (!mirror.has(p)) n++;
  return n;
}

/**
 * An event of the caller that dmirror_exclusive's final read must follow: its mmap_read_unlock
 * after the last call, then the pages of its bounce buffer (vmalloc'ed for large requests),
 * allocated just before dmirror_do_read. Without vmalloc traced, the read is taken at the last
 * such event: its earliest possible time.
 */
export function readNotBefore(dx: DeviceExclusive, t: Task): void {
  const r = dx.requests.get(t.tid);
  if (r && !r.call && r.calls > 0 && r.predicted === null && !r.readTimed) {
    r.readMissing = missing(dx, r);
    r.readAt = dx.m.now + READ_DELAY_NS;
    dx.reading.add(r);
  }
}

/** The read taken where its estimated time has come (or the caller freed its bounce buffer). */
export function readDue(dx: DeviceExclusive, r: Request): void {
  dx.reading.delete(r);
  if (r.readAt === null) return;
  r.readMissing = missing(dx, r);
  r.readAt = null;
}

/**
 * vmalloc returning in the caller after its last call (a kretprobe on vmalloc):
 * dmirror_bounce_init's buffer, allocated just before mutex_lock and dmirror_do_read. The read
 * is taken here; only an invalidation racing the read itself is left unsettled.
 */
export function bounceAllocated(dx: DeviceExclusive, t: Task): void {
  const r = dx.requests.get(t.tid);
  if (r && !r.call && r.calls > 0 && r.predicted === null) {
    r.readMissing = missing(dx, r);
    r.readTimed = true;
    r.readAt = null;
    dx.reading.delete(r);
    // An erasure dx close before the read raced it for dmirror->mutex: the probes' order
    // (a notifier's entry, vmalloc's return) does not say who took the lock first.
    const now = dx.m.now;
    const s = Math.floor((r.start ?? 0) / PAGE_SIZE);
    r.readRace = dx.erased.some(
      (x) =>
        now - x.ts <= READ_RACE_NS &&
        x.mirror === r.mirror &&
        x.s < s + (r.npages ?? 0) &&
        x.e >= s,
    );
  }
}

/**
 * RACE_BEGIN markers, written just before the ioctl, carry its range (not its result); RACE_END,
 * written after it returned, ends a request no ioctl event closes.
 */
export function marker(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const m = /^RACE_BEGIN .*addr=0x([0-9a-f]+) npages=(\d+)/.exec(e.buf ?? '');
  if (m) {
    const open = dx.requests.get(t.tid);
    if (open?.implicit) finishRequest(dx, open, open.lastReturn ?? e.ts, null);
    dx.announced.set(t.tid, { start: parseInt(m[1], 16), npages: Number(m[2]) });
    return;
  }
  const r = dx.requests.get(t.tid);
  if (r?.implicit && e.buf?.startsWith('RACE_END ')) {
    if (r.call) finishCall(dx, r.call, e);
    finishRequest(dx, r, e.ts, null);
  }
}

/** sys_exit_ioctl: the final read through the mirror (dmirror_do_read), then the verdict. */
export function ioctlExit(dx: DeviceExclusive, e: ReplayEvent, t: Task): void {
  const r = dx.requests.get(t.tid);
  if (!r) return;
  if (r.call) finishCall(dx, r.call, e);
  finishRequest(dx, r, e.ts, e.ret);
}

/** Requests no ioctl return or marker closed (end of the trace). */
export function flush(dx: DeviceExclusive): void {
  for (const r of [...dx.requests.values()]) {
    if (r.call || r.calls === 0) continue;
    finishRequest(dx, r, r.lastReturn ?? r.ts, null);
  }
}

/**
 * The request's verdict: -EBUSY where a chunk fell short, else -ENOENT where the final read
 * through the mirror (dmirror_do_read) misses a page, else 0. `end` is the ioctl's return where
 * traced, else the last call's return (or RACE_END).
 */
export function finishRequest(
  dx: DeviceExclusive,
  r: Request,
  end: bigint,
  observed: number | null,
): void {
  dx.requests.delete(r.task.tid);
  // Unlocks the trace did not show (lost events) happened by the time the request ended.
  for (const [pfn, h] of dx.held) {
    if (h.req !== r) continue;
    dx.held.delete(pfn);
    unlock(dx, h.folio);
  }
  r.observed = observed;
  if (r.readAt !== null) readDue(dx, r);
  let enoent = 0;
  const atExit = missing(dx, r);
  if (r.predicted === null) {
    enoent = r.readMissing ?? atExit;
    r.predicted = enoent ? ENOENT : 0;
  }
  // Traced, the read can only race what lands during it; estimated, anything after the last call.
  const read = r.readTimed ? r.readMissing : r.readEarliest;
  const ambiguous =
    !r.implicit && r.predicted !== EBUSY && read !== null && read > 0 !== atExit > 0;
  dx.out.request({
    requestId: r.id,
    ts: r.ts,
    dur: end - r.ts,
    tid: r.task.tid,
    mm: r.mm.id,
    start: r.start,
    npages: r.npages,
    predicted: r.predicted,
    observed: r.observed,
    calls: r.calls,
    failedPages: r.failedPages,
    enoentPages: enoent,
    note:
      [
        r.readRace && r.predicted !== EBUSY
          ? `an invalidation lands within ${Number(READ_RACE_NS) / 1000} us before the final read: dmirror->mutex decides which comes first`
          : null,
        ambiguous
          ? r.readTimed
            ? 'an invalidation falls during the final read (between the bounce buffer allocation and the ioctl return): the mirror lock decides'
            : 'an invalidation falls between the last call and the ioctl return: the read time is not traced'
          : null,
        dx.missingEvidence,
      ]
        .filter(Boolean)
        .join('; ') || null,
  });
}

/** A caller the trace shows only through its make_device_exclusive_range calls (e.g. nouveau). */
export function implicitRequest(dx: DeviceExclusive, e: ReplayEvent, t: Task): Request {
  return newRequest(dx, e, t, mirrorOf(dx, t.mm!, -1), true);
}

/** dmirror_interval_invalidate: every device's interval notifier sees an invalidation of its mm. */
export function dmirror_interval_invalidate(
  dx: DeviceExclusive,
  mm: Mm,
  start: number,
  end: number,
  event: number,
  owner: unknown,
): void {
  // Every device's interval notifier sees the invalidation.
  for (const mirror of dx.mirrors.get(mm)?.values() ?? []) {
    // dmirror_interval_invalidate ignores only its own migrations; dmirror_do_update erases the
    // range with xa_for_each_range(start >> PAGE_SHIFT, end >> PAGE_SHIFT): inclusive of `end`.
    if (event === MMU_NOTIFY.MIGRATE && owner === MIRROR_OWNER) return;
    const s = Math.floor(start / PAGE_SIZE);
    const e = Math.floor(end / PAGE_SIZE);
    const now = dx.m.now;
    if (dx.erased.length && now - dx.erased[0].ts > READ_RACE_NS)
      dx.erased = dx.erased.filter((x) => now - x.ts <= READ_RACE_NS);
    dx.erased.push({ mirror, ts: now, s, e });
    if (e - s < mirror.size) for (let p = s; p <= e; p++) mirror.delete(p);
    else for (const p of mirror) if (p >= s && p <= e) mirror.delete(p);
  }
}
