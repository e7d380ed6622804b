// When GUP pinned each page of a call: anchors read ahead from the trace (its start, the faults it
// took, its return), pages in between interpolated.

/** When a GUP started and ended, and the pages it faulted in (index, time). */
export interface GupPlan {
  start: bigint;
  end: bigint | null;
  npages: number;
  /** Faults that mapped a new anonymous page (folio_add_new_anon_rmap). */
  faults: { index: number; ts: bigint }[];
  /** Other faults GUP took (do_swap_page, do_wp_page): GUP was at that page then. */
  reached: { index: number; ts: bigint }[];
  /** A GUP fault would show: the trace has folio_add_new_anon_rmap or handle_mm_fault. */
  faultsTraced: boolean;
  /** folio_add_new_anon_rmap is traced: `faults` says which faults mapped a new page. */
  newAnonTraced: boolean;
  /** The call's return, where traced: the walk of its pages ends by then. */
  callEnd?: bigint | null;
}

/** Linear interpolation of page i's pin time between the plan's anchors. */
export function pinTime(p: GupPlan, i: number): bigint {
  return pinWindow(p, i)[2];
}

/**
 * The anchors around page i ([earliest, latest] it can have been pinned) and its pin time: the
 * last fault GUP took on page i, else interpolated between the faults before and after it (GUP
 * walks the range in order, so every page before a fault's is pinned by then).
 */
export function pinWindow(p: GupPlan, i: number): [bigint, bigint, bigint] {
  const { marks, at } = anchorsOf(p);
  const end = p.end ?? p.start;
  const here = at.get(i);
  if (here) return [here.first, here.last, here.last];
  let a = { index: -1, ts: p.start };
  for (const f of marks) if (f.index < i) a = f;
  const b = marks.find((f) => f.index > i && f.ts >= a.ts) ?? { index: p.npages - 1, ts: end };
  if (b.index <= a.index) return [a.ts, b.ts, b.ts];
  const span = b.ts > a.ts ? b.ts - a.ts : 0n;
  return [a.ts, b.ts, a.ts + (span * BigInt(i - a.index)) / BigInt(b.index - a.index)];
}

interface Anchors {
  /** The faults and reaches inside the range, in time order. */
  marks: { index: number; ts: bigint }[];
  /** Per page index with marks: the first and last of them. */
  at: Map<number, { first: bigint; last: bigint }>;
}

/** Each plan's anchors, sorted once: pinWindow is asked for every page of the call. */
const anchors = new WeakMap<GupPlan, Anchors>();

function anchorsOf(p: GupPlan): Anchors {
  let a = anchors.get(p);
  if (a) return a;
  const marks = [...p.faults, ...p.reached]
    .filter((f) => f.index >= 0 && f.index < p.npages)
    .sort((x, y) => (x.ts < y.ts ? -1 : x.ts > y.ts ? 1 : 0));
  const at = new Map<number, { first: bigint; last: bigint }>();
  for (const f of marks) {
    const m = at.get(f.index);
    if (m) m.last = f.ts;
    else at.set(f.index, { first: f.ts, last: f.ts });
  }
  a = { marks, at };
  anchors.set(p, a);
  return a;
}
