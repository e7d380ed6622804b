// Tasks and address spaces: fork (kernel/fork.c dup_mm, copy_page_range), exec and exit.
import type { Adapter } from '../adapter.js';
import { copy_page_range } from '../copy_page_range.js';
import { insertVma } from '../vma.js';
import { rss_batch_begin } from '../memory.js';
import { exit_mmap } from '../mmap.js';
import type { Mm, Pte, Task, Vma } from '../types.js';

import { ReplayEvent, CLONE_VM, CLONE_THREAD, CLONE_VFORK, SIGCHLD } from './events.js';
import { sync_mm_rss, uncertain } from './rss.js';

/** task_newtask(pid, clone_flags, comm) in the parent. */
export function newTask(ad: Adapter, e: ReplayEvent): void {
  copy_process(ad, e, e.pid!, e.clone_flags!, e.child_comm);
}

/** kernel/fork.c copy_process: task pid, made by e's task; its mm by the clone flags. */
function copy_process(
  ad: Adapter,
  e: ReplayEvent,
  pid: number,
  flags: number,
  comm: string | null,
): void {
  const m = ad.m;
  const parent = ad.task(e);
  const thread = (flags & CLONE_THREAD) !== 0;
  let mm: Mm | null;
  if (flags & CLONE_VM) mm = parent.mm;
  else {
    const work = ad.deferred.get(parent.tid);
    if (work) {
      ad.deferred.delete(parent.tid);
      work.run();
    }
    const b = ad.building.get(parent.tid);
    mm = b?.kind === 'fork' && b.mm ? b.mm : dup_mm(ad, parent);
    copyPageRange(ad, parent.tid, null, true);
    ad.building.delete(parent.tid);
  }
  if (mm) mm.users++;
  const tgid = thread ? parent.tgid : pid;
  if (mm && !(flags & CLONE_VM)) mm.tgid = tgid;
  const prev = m.tasks.get(pid);
  if (prev?.mm && prev.mm !== mm) prev.mm.users--;
  // The pid was reused: the task that had it is over.
  if (prev) ad.out.task(prev);
  m.setTask({
    tid: pid,
    tgid,
    mm,
    comm: comm ?? parent.comm,
    first: e.ts,
    last: e.ts,
    preTrace: false,
    exited: false,
    rssCache: [0, 0, 0, 0],
    rssEvents: 0,
  });
}

/** dup_mm -> dup_mmap: the child's VMAs, and their page tables where copy_page_range copies them. */
export function dup_mm(ad: Adapter, parent: Task): Mm | null {
  const m = ad.m;
  const src = parent.mm;
  if (!src) return null;
  const dst = m.newMm(parent.tgid, false);
  dst.brk = src.brk;
  dst.preTrace = src.preTrace;
  dst.pgtablesFromStart = src.pgtablesFromStart;
  rss_batch_begin(dst);
  const copies: Vma[] = [];
  for (const vma of src.vmas) {
    if (vma.dontfork) continue;
    const child = m.newVma({ ...vma, anonVma: vma.anonVma === null ? null : m.anonVmaId() });
    insertVma(m, dst, child);
    copies.push(vma);
  }
  // dup_mmap copies VMA by VMA; where the trace shows each copy_page_range (a kprobe with the
  // source VMA's start), each VMA is copied then, else all at once now.
  if (ad.opts.copyPageRangeTraced) ad.pendingCopies.set(parent.tid, { dst, src, vmas: copies });
  else
    for (const vma of copies)
      copy_page_range(m, dst, src, vma, (mm, va, pte) => restoreForFork(ad, mm, va, pte));
  for (let i = 0; i < 4; i++) dst.rssKnown[i] = true;
  if (src.preTrace)
    uncertain(ad, dst, parent.tid, 'fork copies page tables of VMAs mapped before the trace');
  return dst;
}

/** copy_page_range for the source VMA [start, end) of the fork a task is making (kprobe); the
 *  model's VMAs inside it are copied (the kernel may have merged what the model keeps apart). */
export function copyPageRange(
  ad: Adapter,
  tid: number,
  start: number | null,
  all = false,
  end: number | null = null,
): void {
  const p = ad.pendingCopies.get(tid);
  if (!p) return;
  const copy = (vma: Vma) =>
    copy_page_range(ad.m, p.dst, p.src, vma, (mm, va, pte) => restoreForFork(ad, mm, va, pte));
  if (all) {
    for (const v of p.vmas) copy(v);
    ad.pendingCopies.delete(tid);
    return;
  }
  const last = end ?? (start === null ? 0 : start + 1);
  let i = -1;
  p.vmas.forEach((v, k) => {
    if (start !== null && v.start < last && v.end > start) i = k;
  });
  if (i < 0) return;
  // VMAs before it were skipped by vma_needs_copy (no kprobe hit), or are copied now in order.
  for (const v of p.vmas.splice(0, i + 1)) copy(v);
}

/** Device-exclusive entries at fork (try_restore_exclusive_pte). */
export function restoreForFork(ad: Adapter, mm: Mm, va: number, pte: Pte): boolean {
  return ad.dx ? ad.dx.restoreForFork(mm, va, pte) : true;
}

export function exec(ad: Adapter, e: ReplayEvent): void {
  const t = ad.task(e);
  if (!t.execMapped) exec_mmap(ad, t);
  ad.building.delete(t.tid);
  t.execMapped = false;
  t.preTrace = false;
}

/**
 * exec_mmap: the new mm replaces the old one, which goes when its last user does. It happens
 * before sched_process_exec fires; the old mm's teardown rss_stat rows show when.
 */
export function exec_mmap(ad: Adapter, t: Task): void {
  const m = ad.m;
  const b = ad.building.get(t.tid);
  const old = t.mm;
  const mm = b?.kind === 'exec' && b.mm ? b.mm : m.newMm(t.tgid, false);
  // The ELF loader maps the binary, interpreter and stack without mmap calls.
  mm.preTrace = true;
  if (old) {
    old.users--;
    if (old.users <= 0) exitMmap(ad, old, t.tid);
  }
  mm.users++;
  t.mm = mm;
  t.execMapped = true;
}

export function exit(ad: Adapter, e: ReplayEvent): void {
  const t = ad.task(e);
  if (ad.m.k.splitRssCounting) sync_mm_rss(ad, t);
  t.exited = true;
  const mm = t.mm;
  if (!mm) return;
  mm.users--;
  if (mm.users <= 0 && !mm.dead) exitMmap(ad, mm, t.tid);
}

export function exitMmap(ad: Adapter, mm: Mm, tid: number): void {
  // do_exit syncs the exiting task's cached counts before exit_mm (6.1).
  const t = ad.m.tasks.get(tid);
  if (t && ad.m.k.splitRssCounting && t.mm === mm) sync_mm_rss(ad, t);
  if (mm.preTrace) uncertain(ad, mm, tid, 'exit unmaps VMAs mapped before the trace');
  exit_mmap(ad.m, mm);
  // The mm_struct is freed: a later mm at the same address hashes to the same mm_id. The
  // binding goes when the exit's own rss_stat rows are over (the task's next other event).
  ad.retiredMmIds.push(mm);
}

/**
 * sched_process_fork(child_pid) in the parent where task_newtask is not traced: the clone flags
 * come from the parent's syscall (clone's argument; fork and vfork's own). clone3 passes them
 * behind a pointer: taken as a thread (CLONE_VM | CLONE_THREAD), as glibc's pthread_create makes
 * them (its fork() calls clone), an inference the row's mm says nothing against.
 */
export function forkWithoutNewTask(ad: Adapter, e: ReplayEvent): void {
  if (e.child_pid === null) return;
  const call = ad.syscalls.get(e.tid);
  const flags =
    call?.name === 'clone'
      ? call.e.clone_flags
      : call?.name === 'vfork'
        ? CLONE_VM | CLONE_VFORK
        : call?.name === 'clone3'
          ? CLONE_VM | CLONE_THREAD
          : SIGCHLD;
  copy_process(ad, e, e.child_pid, flags ?? SIGCHLD, null);
}
