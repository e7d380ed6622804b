// The anchors of each get_user_pages_remote call made inside make_device_exclusive_range (its
// start, the faults it took, its return: exclusive/gup_plan.ts), read alongside the events by a
// second reader over the anchor events alone, a bounded way ahead of the model: each batch of
// events comes with the plans of the GUPs that begin in it, read up to where each plan is final.
// None of these tell a call's outcome.
import type { DuckDBInstance } from '@duckdb/node-api';
import type { GupPlan } from './exclusive/gup_plan.js';
import { EventReader } from './event_reader.js';
import { EventView } from './event_view.js';
import { eventBatch, type EventBatch, type InputPlan } from './input.js';
import type { Binding } from './probes.js';

type Kind = 'call' | 'gup' | 'ret' | 'callret' | 'fault' | 'reached';

/**
 * The anchor roles. folio_add_new_anon_rmap's second value is a GUP fault's address; a fault's
 * notifier (restoring an entry, breaking COW) fires after its entry probe: the later anchor.
 * handle_mm_fault(vma, address, ...) shows every fault GUP takes, whatever it maps.
 */
const KINDS: Record<string, Kind> = {
  'kprobe:make_device_exclusive_range': 'call',
  'kprobe:get_user_pages_remote': 'gup',
  'kretprobe:get_user_pages_remote': 'ret',
  'kretprobe:make_device_exclusive_range': 'callret',
  'kprobe:folio_add_new_anon_rmap': 'fault',
  'kprobe:handle_mm_fault': 'reached',
  'kprobe:do_swap_page': 'reached',
  'kprobe:do_wp_page': 'reached',
  'kprobe:mmu_notifier_invalidate_range_start': 'reached',
};

/** Where GUP is not probed, it runs from its call's entry to the call's first traced walk. */
const WALKS = ['kprobe:rmap_walk', 'kprobe:page_make_device_exclusive_one'];

/** What the anchor reader is given: structured-cloneable, for the input/output worker. */
export interface AnchorPlan {
  input: InputPlan;
  /** Per name code of `input`: its anchor kind. */
  kinds: Kind[];
  faultsTraced: boolean;
  newAnonTraced: boolean;
  /** make_device_exclusive_range's return is traced: a plan is final once it is seen. */
  callRetTraced: boolean;
  /** get_user_pages_remote is traced; where not, a call's entry begins its plan. */
  gupTraced: boolean;
}

/**
 * The anchor events' input, cut from a file's input planned without a --from/--to window (GUPs
 * near its edges keep the anchors outside it); null when the file's calls are not traced.
 */
export function anchorPlan(whole: InputPlan, probes: Binding[]): AnchorPlan | null {
  const has = (role: string) => probes.some((b) => b.role === role);
  if (!has('kprobe:make_device_exclusive_range')) return null;
  const gupTraced = has('kprobe:get_user_pages_remote');
  const kindOf = (name: string): Kind | undefined =>
    KINDS[name] ?? (!gupTraced && WALKS.includes(name) ? 'ret' : undefined);
  const names: string[] = [];
  const kinds: Kind[] = [];
  const streamOf: number[] = [];
  const typed: InputPlan['typed'] = [];
  const typedOf = new Map<number, number>();
  const kOf = whole.kOf.map((k) => {
    const kind = k < 0 ? undefined : kindOf(whole.names[k]);
    if (!kind) return -1;
    const s = whole.streamOf[k];
    if (s >= 0 && !typedOf.has(s)) typedOf.set(s, typed.push(whole.typed[s]) - 1);
    kinds.push(kind);
    streamOf.push(s < 0 ? -1 : typedOf.get(s)!);
    return names.push(whole.names[k]) - 1;
  });
  const codes = kOf.flatMap((k, code) => (k < 0 ? [] : [code]));
  if (!codes.length) return null;
  return {
    // A filter keeps the scan's insertion order, but DuckDB makes an IN list of more than four
    // codes a join, which may not: list_contains stays a filter. The disorder of the whole file
    // bounds the anchors'.
    input: {
      ...whole,
      events: `${whole.events} AND list_contains([${codes.join(', ')}], event_id)`,
      kOf,
      names,
      streamOf,
      typed,
    },
    kinds,
    faultsTraced: has('kprobe:folio_add_new_anon_rmap') || has('kprobe:handle_mm_fault'),
    newAnonTraced: has('kprobe:folio_add_new_anon_rmap'),
    callRetTraced: has('kretprobe:make_device_exclusive_range'),
    gupTraced,
  };
}

/** A task's current call, as its anchors are read. */
interface Open {
  start: number | null;
  end: number | null;
  plan: GupPlan | null;
}

/** A GUP whose plan is read: where it begins in the trace, and the call it belongs to. */
interface Pending {
  id: bigint;
  ts: bigint;
  tid: number;
  open: Open;
}

/** Anchors per read of the anchor input. */
const ANCHOR_BATCH = 4096;

/**
 * Builds GUP plans from the anchors in (ts, id) order, reading only as far as the plans of the
 * GUPs begun by a given event need: what it holds is the calls in flight, not the trace.
 */
export class GupPlanner {
  private open = new Map<number, Open>();
  private pending: Pending[] = [];
  private batch: EventBatch = eventBatch(ANCHOR_BATCH);
  private readonly view: EventView;
  private i = 0;
  private eof = false;

  private constructor(
    private readonly reader: EventReader,
    private readonly a: AnchorPlan,
  ) {
    this.view = new EventView(a.input.names, a.input.comms);
  }

  static async open(instance: DuckDBInstance, a: AnchorPlan): Promise<GupPlanner> {
    return new GupPlanner(await EventReader.open(instance, a.input), a);
  }

  /**
   * The plans of the GUPs that begin within a batch of events (n > 0), each final: no later
   * anchor changes it. Those that begin before it (before a --from window) are dropped.
   */
  async through(events: EventBatch): Promise<Map<number, GupPlan>> {
    const ts = events.ts[events.n - 1];
    const id = events.id[events.n - 1];
    const upTo = (p: { ts: bigint; id: bigint }) => p.ts < ts || (p.ts === ts && p.id <= id);
    const [ts0, id0] = [events.ts[0], events.id[0]];
    const before = (p: { ts: bigint; id: bigint }) => p.ts < ts0 || (p.ts === ts0 && p.id < id0);
    for (;;) {
      if (this.i === this.batch.n) {
        if (this.eof) break;
        await this.reader.next(this.batch);
        this.i = 0;
        this.eof = this.batch.n === 0;
        continue;
      }
      const b = this.batch;
      if (!upTo({ ts: b.ts[this.i], id: b.id[this.i] }) && !this.unsettled(upTo)) break;
      this.take(this.i++);
    }
    // By the event id as a number, as the replay's events carry it (event_view.ts).
    const out = new Map<number, GupPlan>();
    while (this.pending.length && upTo(this.pending[0])) {
      const p = this.pending.shift()!;
      if (!before(p)) out.set(Number(p.id), p.open.plan!);
    }
    return out;
  }

  /** Whether a plan begun by the bound may still change (its call is the task's current one). */
  private unsettled(upTo: (p: { ts: bigint; id: bigint }) => boolean): boolean {
    for (const p of this.pending) {
      if (!upTo(p)) return false;
      const plan = p.open.plan!;
      if (
        this.open.get(p.tid) === p.open &&
        (plan.end === null || (this.a.callRetTraced && !plan.callEnd))
      )
        return true;
    }
    return false;
  }

  private take(i: number): void {
    const b = this.batch;
    const r = this.view.at(b, i);
    const kind = this.a.kinds[b.k[i]];
    const o = this.open.get(r.tid);
    // A fault's address: the faulting functions' address, a notifier's range start.
    const addr = r.address ?? r.start;
    if (kind === 'call') {
      const c: Open = { start: r.start, end: r.end, plan: null };
      this.open.set(r.tid, c);
      if (!this.a.gupTraced) this.begin(c, null, b.id[i], b.ts[i], r.tid);
    } else if (kind === 'gup' && o && !o.plan) {
      // The GUP entry's start and count stand in for a call entry that does not fetch them.
      o.start ??= r.start;
      this.begin(o, r.nr_pages, b.id[i], b.ts[i], r.tid);
    } else if (
      (kind === 'fault' || kind === 'reached') &&
      o?.plan &&
      o.plan.end === null &&
      o.start !== null &&
      addr !== null
    )
      o.plan[kind === 'fault' ? 'faults' : 'reached'].push({
        index: Math.floor((addr - o.start) / 4096),
        ts: r.ts,
      });
    else if (kind === 'ret' && o?.plan && o.plan.end === null) o.plan.end = r.ts;
    else if (kind === 'callret' && o?.plan && !o.plan.callEnd) o.plan.callEnd = r.ts;
  }

  /** A GUP begins (at its entry, or its call's where it is not traced): its plan, read on. */
  private begin(o: Open, nrPages: number | null, id: bigint, ts: bigint, tid: number): void {
    const npages =
      o.end !== null && o.start !== null ? Math.round((o.end - o.start) / 4096) : (nrPages ?? 0);
    o.plan = {
      start: ts,
      end: null,
      npages,
      faults: [],
      reached: [],
      faultsTraced: this.a.faultsTraced,
      newAnonTraced: this.a.newAnonTraced,
    };
    this.pending.push({ id, ts, tid, open: o });
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}
