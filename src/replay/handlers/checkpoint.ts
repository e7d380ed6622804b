// MMREPLAY_CKPT markers: the kernel's pagemap at a point, against the model's page tables.
import type { Adapter } from '../adapter.js';
import { PAGE_SIZE } from '../types.js';

import { ReplayEvent } from './events.js';
import { finishFault } from './faults.js';

export function checkpoint(ad: Adapter, e: ReplayEvent): void {
  const m = ad.m;
  const kv = Object.fromEntries([...e.buf!.matchAll(/(\w+)=(\S+)/g)].map((x) => [x[1], x[2]]));
  // A marker cut short (the trace's last line) or damaged is not a checkpoint.
  if (
    !/^\d+$/.test(kv.pid ?? '') ||
    !/^(0x[0-9a-f]+|\d+)$/i.test(kv.start ?? '') ||
    !(kv.pages ?? '')
      .split(',')
      .every((p) => /^(-|P:[0-9a-f]+:[a-z]*|S:[0-9a-f]+:[0-9a-f]+:[a-z]*)$/.test(p))
  ) {
    ad.skip(e, 'MMREPLAY_CKPT marker without pid, start or pages (cut short?)');
    return;
  }
  const pid = Number(kv.pid);
  const start = Number(BigInt(kv.start));
  const pages = (kv.pages ?? '').split(',');
  const t = m.tasks.get(Number(kv.tid)) ?? m.tasks.get(pid);
  const mm = t?.mm ?? null;
  const pend = t ? ad.pending.get(t.tid) : undefined;
  if (pend) finishFault(ad, pend, e);
  for (let i = 0; i < pages.length; i++) {
    const va = start + i * PAGE_SIZE;
    const [kind, x, flags] = pages[i].split(':');
    const kernelState = kind === 'P' ? 'present' : kind === 'S' ? 'swap' : 'none';
    const kernelPfn = kind === 'P' ? parseInt(x, 16) : null;
    const p = mm ? m.pte(mm, va) : undefined;
    const modelState = !p || p.kind === 'none' ? 'none' : p.kind === 'present' ? 'present' : 'swap';
    const modelPfn =
      p?.kind === 'present' && p.folio?.pfn !== null && p.folio?.pfn !== undefined
        ? p.folio.pfn + p.index
        : null;
    // The PFN is as known as the folio's: a fork's child maps the very page the parent's fault got.
    const confidence = p
      ? p.kind === 'present' && p.folio
        ? p.folio.zero
          ? 'inferred'
          : p.folio.pfnConfidence
        : p.confidence
      : null;
    ad.out.checkpoint({
      eventId: e.id,
      ts: e.ts,
      label: kv.label ?? '',
      pid,
      mm: mm?.id ?? null,
      va,
      kernelState,
      kernelPfn,
      kernelFlags:
        (kind === 'P' ? flags : kind === 'S' ? (pages[i].split(':')[3] ?? '') : '') ?? '',
      modelState,
      modelPfn,
      confidence,
      presentMatch: kernelState === modelState,
      pfnMatch:
        kernelPfn !== null && modelPfn !== null && confidence === 'observed'
          ? kernelPfn === modelPfn
          : null,
    });
  }
}
