// Syscalls' page-table work (munmap, mprotect, madvise, mremap, mmap, brk, fork...), run when the
// trace shows it begin.
import type { Adapter } from '../adapter.js';
import { find_vma } from '../vma.js';
import {
  do_brk,
  do_madvise,
  MADV,
  do_mmap,
  do_mprotect,
  do_mremap,
  do_munmap,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
} from '../mmap.js';
import { MMU_NOTIFY } from '../mmu_notifier.js';
import { uffd_wp_guess, uffd_wp_range, UFFDIO_WRITEPROTECT } from '../userfaultfd.js';
import type { Mm } from '../types.js';

import {
  ReplayEvent,
  PendingFault,
  CLONE_VM,
  CLONE_VFORK,
  SIGCHLD,
  RANGE_SYSCALLS,
  USER_VA_END,
} from './events.js';
import { uncertain } from './rss.js';
import { dup_mm } from './fork.js';

export function sysEnter(ad: Adapter, e: ReplayEvent): void {
  const m = ad.m;
  const t = ad.task(e);
  const name = e.event.slice('syscalls:sys_enter_'.length);
  // A range past the top of user space, which the kernel refuses, is a damaged line (the model
  // would build a VMA of 2^64 bytes): skipped and located.
  const addr = e.addr ?? e.start;
  const len = name === 'mremap' ? e.old_len : (e.len ?? e.len_in);
  const reach = name === 'mremap' ? Math.max(len ?? 0, e.new_len ?? 0) : (len ?? 0);
  if (RANGE_SYSCALLS.has(name) && (name === 'mmap' ? 0 : (addr ?? 0)) + reach > USER_VA_END) {
    ad.syscalls.delete(e.tid);
    return ad.skip(e, `${name} of a range past the top of user space`);
  }
  // Its arguments as they were: the work below runs, and sys_exit reads them, at later events.
  const call = e.detach();
  ad.syscalls.set(e.tid, { name, e: call });
  const mm = t.mm;
  if (!mm) return;
  if (
    mm.preTrace &&
    (name === 'munmap' ||
      name === 'madvise' ||
      name === 'mremap' ||
      (name === 'mmap' && e.flags! & MAP_FIXED)) &&
    !covered(ad, mm, addr!, len!)
  ) {
    uncertain(ad, mm, t.tid, `${name} over VMAs mapped before the trace`);
  }
  const later = (work: () => void, readLock = false) =>
    ad.deferred.set(t.tid, {
      run: () => {
        const saved = [m.now, m.eventId] as const;
        m.eventId = call.id;
        work();
        m.eventId = saved[1];
      },
      readLock,
    });
  switch (name) {
    case 'munmap':
      later(() => do_munmap(m, mm, call.addr!, call.len!));
      return;
    case 'mprotect':
      later(() => do_mprotect(m, mm, call.start!, call.len!, call.prot!));
      return;
    case 'madvise':
      // MADV_COLD/PAGEOUT isolate what is mapped as soon as they hold the read lock
      // (madvise_cold_or_pageout_pte_range); reclaim can come much later.
      later(
        () => do_madvise(m, mm, call.start!, call.len_in!, call.behavior! | 0),
        e.behavior === MADV.COLD || e.behavior === MADV.PAGEOUT,
      );
      return;
    case 'mremap':
      if (e.new_len! < e.old_len!) do_munmap(m, mm, e.addr! + e.new_len!, e.old_len! - e.new_len!);
      return;
    case 'mmap':
      if ((e.flags! & MAP_FIXED) !== 0 && (e.flags! & MAP_FIXED_NOREPLACE) === 0)
        do_munmap(m, mm, e.addr!, e.len!);
      return;
    case 'clone':
    case 'fork': {
      // dup_mmap copies the page tables once it holds the parent's mmap_write_lock, which a
      // driver holding the read lock delays; rss_stat for the child's copy comes before
      // task_newtask. So the copy is made when the trace shows it begin (see STARTS_SYSCALL_WORK).
      const flags = name === 'fork' ? SIGCHLD : e.clone_flags!;
      if (flags & CLONE_VM) return;
      const b = { kind: 'fork' as const, mm: null as Mm | null, flags };
      ad.building.set(t.tid, b);
      later(() => {
        if (ad.building.get(t.tid) === b && !b.mm) b.mm = dup_mm(ad, t);
      });
      return;
    }
    case 'vfork':
      ad.building.set(t.tid, { kind: 'fork', mm: null, flags: CLONE_VM | CLONE_VFORK });
      return;
    case 'clone3':
      // Flags are behind a pointer: the copy is made at task_newtask.
      return;
    case 'execve':
    case 'execveat':
      ad.building.set(t.tid, { kind: 'exec', mm: null, flags: null });
      return;
    case 'exit_group':
      mm.exiting = true;
      return;
    case 'ioctl':
      ad.dx?.ioctlEnter(e, t);
      return;
  }
}

export function sysExit(ad: Adapter, e: ReplayEvent): void {
  const m = ad.m;
  const t = ad.task(e);
  const name = e.event.slice('syscalls:sys_exit_'.length);
  const call = ad.syscalls.get(e.tid);
  ad.syscalls.delete(e.tid);
  const work = ad.deferred.get(e.tid);
  if (work) {
    ad.deferred.delete(e.tid);
    work.run();
  }
  const ret = e.ret!;
  const failed = ret < 0 && ret > -4096;
  if (name === 'ioctl') ad.dx?.ioctlExit(e, t);
  if (!call || call.name !== name || !t.mm) return;
  const a = call.e;
  const mm = t.mm;
  switch (name) {
    case 'mmap':
      if (!failed)
        do_mmap(
          m,
          mm,
          ret,
          a.len!,
          a.prot!,
          a.flags!,
          a.fd! | 0,
          a.off!,
          `file:${t.tgid}:fd${a.fd! | 0}:${ad.fileSeq++}`,
        );
      return;
    case 'mremap':
      if (!failed) do_mremap(m, mm, a.addr!, a.old_len!, a.new_len!, ret);
      return;
    case 'brk':
      if (mm.brk === null) mm.brk = ret;
      else do_brk(m, mm, ret);
      return;
    case 'clone':
    case 'fork':
    case 'vfork':
    case 'clone3':
      if (failed) ad.building.delete(t.tid);
      return;
    case 'execve':
    case 'execveat':
      if (failed) ad.building.delete(t.tid);
      return;
  }
}

/** Whether the model's VMAs cover [start, start+len) entirely. */
export function covered(ad: Adapter, mm: Mm, start: number, len: number): boolean {
  let at = start;
  const end = start + len;
  while (at < end) {
    const v = find_vma(mm, at);
    if (!v || v.preTrace) return false;
    at = v.end;
  }
  return true;
}

/**
 * An mmu notifier the model does not make itself: a UFFDIO_WRITEPROTECT (PROTECTION_VMA inside
 * that ioctl, or anywhere outside a fault when the trace has no syscall events) where no kprobe
 * on uffd_wp_range or change_protection shows the change; its mode is guessed (uffd_wp_guess).
 */
export function invalidateRangeStart(
  ad: Adapter,
  e: ReplayEvent,
  pf: PendingFault | undefined,
): void {
  const { start, end } = e;
  if (start === null || end === null || e.range_event !== MMU_NOTIFY.PROTECTION_VMA) return;
  if (ad.opts.uffdTraced || pf) return;
  const t = ad.task(e);
  const call = ad.syscalls.get(e.tid);
  const inUffd = call?.name === 'ioctl' && call.e.cmd === UFFDIO_WRITEPROTECT;
  if (!t.mm || !(inUffd || (!ad.opts.syscallsTraced && !call))) return;
  uffd_wp_range(ad.m, t.mm, start, end, uffd_wp_guess(ad.m, t.mm, start, end));
}
