// Invariants checked after every event, on what that event changed.
import { fmtPfn, type Model } from './model.js';
import type { Mm } from './types.js';
import { find_vma } from './vma.js';

export function checkInvariants(m: Model): void {
  const folios = m.touchedFolios;
  for (let i = 0; i < m.nTouchedFolios; i++) {
    const f = folios[i];
    f.touched = false;
    const label = m.label(f.preTrace);
    const mapped = f.mapcount + f.entireMapcount;
    if (f.freed) {
      if (mapped > 0)
        m.sink.violation(
          'freed_page_still_mapped',
          `folio ${f.id} (pfn ${fmtPfn(f)}) freed with ${mapped} mappings`,
          label,
        );
      continue;
    }
    // Every mapping, pin and device-exclusive entry holds a reference (include/linux/mm.h).
    if (f.refcount < mapped + f.pincount) {
      m.sink.violation(
        'refcount_below_mapcount_plus_pins',
        `folio ${f.id} (pfn ${fmtPfn(f)}) refcount ${f.refcount} < mapcount ${mapped} + pincount ${f.pincount}`,
        label,
      );
    }
    if (f.mapcount < 0 || f.pincount < 0)
      m.sink.violation(
        'counter_negative',
        `folio ${f.id} mapcount ${f.mapcount} pincount ${f.pincount}`,
        label,
      );
  }
  m.nTouchedFolios = 0;
  // Most events change no entry: no set to build.
  if (m.nTouchedPtes) checkPtes(m);
  m.nTouchedPtes = 0;
}

function checkPtes(m: Model): void {
  const mms = touchedMms;
  const vas = m.touchedPteVas;
  for (let i = 0; i < m.nTouchedPtes; i++) {
    const mm = m.touchedPteMms[i];
    const va = vas[i];
    if (!mms.includes(mm)) mms.push(mm);
    const p = m.pte(mm, va);
    if (!p || p.kind === 'none') continue;
    if (!find_vma(mm, va) && !mm.dead) {
      m.sink.violation(
        'pte_outside_vma',
        `mm ${mm.id} has a ${p.kind} entry at 0x${va.toString(16)} outside every VMA`,
        m.label(p.preTrace || mm.preTrace),
      );
    }
    if (p.kind === 'device_exclusive' && (!p.folio || p.folio.freed || p.folio.refcount < 1)) {
      m.sink.violation(
        'device_exclusive_without_reference',
        `mm ${mm.id} va 0x${va.toString(16)}: device-exclusive entry whose folio holds no reference`,
        m.label(p.preTrace),
      );
    }
  }
  for (const mm of mms) {
    if (mm.dead) continue;
    for (let i = 0; i < 4; i++) {
      if (mm.rssKnown[i] && mm.rss[i] < 0) {
        m.sink.violation(
          'rss_negative',
          `mm ${mm.id} counter ${i} is ${mm.rss[i]}`,
          m.label(mm.preTrace),
        );
        mm.rss[i] = 0;
      }
    }
  }
  // pop(), not `length = 0` (a runtime call on every event that changed an entry).
  while (mms.length) mms.pop();
}

/** checkPtes' mms in the order first touched, reused from event to event (an event touches one
 *  or two: an array; clearing a Set allocates a new table each time). */
const touchedMms: Mm[] = [];
