// rss_stat against the model's counters (mm/memory.c add_mm_counter, the per-task cache of 6.1).
import type { Adapter } from '../adapter.js';
import { PAGE_SIZE, RSS_MEMBERS, type Mm, type Task } from '../types.js';

import { ReplayEvent, RssRow } from './events.js';
import { exec_mmap, exitMmap } from './fork.js';

/**
 * 6.1 SPLIT_RSS_COUNTING (mm/memory.c): the fault path counts pages in the task's cache
 * (add_mm_counter_fast), and handle_mm_fault folds the cache into the mm every 64 faults
 * (check_sync_rss_stat -> sync_mm_rss), which is when rss_stat fires. 6.2+ count at once.
 */
export function check_sync_rss_stat(ad: Adapter, t: Task): void {
  if (!ad.m.k.splitRssCounting) return;
  if (t.rssEvents++ > 64) sync_mm_rss(ad, t);
}

export function sync_mm_rss(ad: Adapter, t: Task): void {
  t.rssEvents = 0;
  if (!t.mm) return;
  for (let i = 0; i < 4; i++) {
    if (t.rssCache[i]) {
      t.mm.rss[i] += t.rssCache[i];
      t.rssCache[i] = 0;
    }
  }
}

export function rssStat(ad: Adapter, e: ReplayEvent): void {
  const m = ad.m;
  // A member the model does not count (another kernel's, or a damaged line) or a field missing.
  const { mm_id: mmId, member, size } = e;
  if (mmId === null || size === null) {
    ad.skip(e, 'rss_stat without mm_id or size');
    return;
  }
  if (member === null || RSS_MEMBERS[member] === undefined) {
    ad.skip(
      e,
      `rss_stat member ${member ?? '(a name the format does not list)'} is not one the model counts (${RSS_MEMBERS.join(', ')})`,
    );
    return;
  }
  const t = ad.task(e);
  const kernel = Math.round(size / PAGE_SIZE);
  if (mmId === 0) {
    const mm = unhashedMm(ad, e, t, member, kernel);
    if (mm) checkRss(ad, e, t, mm, member, kernel);
    else unknownMmRss(ad, e, member, kernel, 'unknown mm: mm_id 0 (pointer not hashed)');
    return;
  }
  let mm = ad.byMmId.get(mmId) ?? null;
  if (!mm) {
    // Bind the hashed mm_id: to the mm a fork/exec in ad task is building, else to the task's own.
    const b = ad.building.get(t.tid);
    if (b?.mm && b.mm.mmId === null) mm = b.mm;
    else if (b?.kind === 'exec' && !b.mm) {
      b.mm = m.newMm(t.tgid, false);
      mm = b.mm;
    } else if (t.mm && t.mm.mmId === null) mm = t.mm;
    if (mm) {
      mm.mmId = mmId;
      ad.byMmId.set(mmId, mm);
    }
  }
  if (mm) checkRss(ad, e, t, mm, member, kernel);
  else unknownMmRss(ad, e, member, kernel, 'unknown mm');
}

/** An rss_stat row the model cannot check: which mm it counts is not known. */
export function unknownMmRss(
  ad: Adapter,
  e: ReplayEvent,
  member: number,
  kernel: number,
  note: string,
): void {
  ad.out.rss({
    eventId: e.id,
    ts: e.ts,
    mm: null,
    member: RSS_MEMBERS[member],
    kernel,
    model: null,
    match: null,
    note,
  });
}

/**
 * The mm of an rss_stat whose mm_id is 0: the kernel could not hash the pointer (ptr_to_hashval
 * before crng is ready, as in the lab's 6.1 guest), so every mm has that id. curr=1 is the task's
 * own mm; curr=0 is the mm a fork builds, the new mm an exec fills (its counts only rise) until
 * the old one's fall (exec_mmap, then its teardown), or an exiting task's (exit_mm cleared
 * current->mm first).
 */
export function unhashedMm(
  ad: Adapter,
  e: ReplayEvent,
  t: Task,
  member: number,
  kernel: number,
): Mm | null {
  if (e.curr === 1) return t.mm;
  const b = ad.building.get(t.tid);
  if (b?.kind === 'fork') return b.mm;
  if (b?.kind === 'exec') {
    if (t.execMapped) return null;
    if (!b.mm) b.mm = ad.m.newMm(t.tgid, false);
    if (t.mm && kernel < b.mm.rss[member]) {
      exec_mmap(ad, t);
      return null;
    }
    return b.mm;
  }
  return t.mm?.exiting ? t.mm : null;
}

/** One rss_stat row: the kernel's count of member in mm against the model's. */
export function checkRss(
  ad: Adapter,
  e: ReplayEvent,
  t: Task,
  mm: Mm,
  member: number,
  kernel: number,
): void {
  const row: RssRow = {
    eventId: e.id,
    ts: e.ts,
    mm: mm.id,
    member: RSS_MEMBERS[member],
    kernel,
    model: null,
    match: null,
    note: null,
  };
  // During exec, the old mm's counters falling mean exec_mmap has replaced it.
  const b = ad.building.get(t.tid);
  if (b?.kind === 'exec' && !t.execMapped && mm === t.mm && kernel < mm.rss[member])
    exec_mmap(ad, t);
  // A last user's counters falling means exit_mmap has begun (before sched_process_exit on 6.1/6.12).
  if (mm.exiting && !mm.dead && mm.users <= 1 && kernel < mm.rss[member]) exitMmap(ad, mm, t.tid);
  // 6.1: a count that equals the mm's plus what the task has cached is sync_mm_rss folding the
  // cache in (handle_mm_fault's check_sync_rss_stat, whose event counter also counts faults the
  // trace does not show: GUP's, kernel-mode ones).
  if (
    ad.m.k.splitRssCounting &&
    t.mm === mm &&
    t.rssCache[member] !== 0 &&
    kernel === mm.rss[member] + t.rssCache[member]
  )
    sync_mm_rss(ad, t);
  const q = mm.rssTrajectory[member];
  const model = q.length ? q.shift()! : mm.rss[member];
  row.model = model;
  if (!mm.rssKnown[member]) {
    row.note = mm.preTrace ? 'calibration: pre-trace mm' : 'calibration: first count of a new mm';
    mm.rssKnown[member] = true;
  } else if (mm.uncertain) {
    row.note = `not checkable: ${mm.uncertain.why}`;
  } else if (ad.building.get(t.tid)?.kind === 'exec' && ad.building.get(t.tid)?.mm === mm) {
    // copy_strings fills the new stack through GUP: faults without page_fault_user events.
    row.note =
      'not checkable: exec copies its arguments onto the new stack through GUP (no fault events)';
  } else {
    row.match = model === kernel;
    // Threads faulting on other CPUs count their page before their own rss_stat shows up.
    let racing = 0;
    if (!ad.m.k.splitRssCounting)
      for (const p of ad.pending.values()) if (p.task.mm === mm && p.task.tid !== t.tid) racing++;
    if (!row.match && kernel > model && kernel - model <= racing) {
      row.match = true;
      row.note = 'counted a concurrent fault on another CPU first';
      ad.out.rss(row);
      return;
    }
    if (!row.match) row.note = explainRss(ad, mm, t);
  }
  if (model !== kernel || !row.match) {
    // Adopt the kernel's count so one unexplained page does not taint every later row.
    const delta = kernel - model;
    mm.rss[member] += delta;
    for (let i = 0; i < q.length; i++) q[i] += delta;
    if (row.match === false) q.length = 0;
  }
  ad.out.rss(row);
}

/** Marks mm's coming rss_stat rows (from tid, until its next other event) as not checkable. */
export function uncertain(ad: Adapter, mm: Mm, tid: number, why: string): void {
  mm.uncertain = { tid, why };
  const mms = ad.uncertainByTid.get(tid);
  if (mms) mms.push(mm);
  else ad.uncertainByTid.set(tid, [mm]);
}

export function explainRss(ad: Adapter, mm: Mm, t: Task): string {
  if (ad.m.nearLoss) return 'lost events nearby';
  if (mm.preTrace || mm.vmas.some((v) => v.preTrace)) return 'pre-trace pages the model never saw';
  if (ad.building.has(t.tid)) return 'kernel-internal access (GUP) without a fault event';
  return 'model';
}
