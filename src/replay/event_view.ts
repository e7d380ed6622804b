// The event the handlers read: one view moved over the input's batches (no object per event),
// with a getter per field name (fields.ts) that reads the current event's slot of that name, null
// where the event has no such field or the trace left it NULL.
import { fieldsOf, NUM_FIELDS, STR_FIELDS, type NumField, type StrField } from './fields.js';
import { eventClass } from './handlers/events.js';
import { NO_TS, SLOTS, type EventBatch } from './input.js';

const TWO_32 = 2 ** 32;

/** Per event name: the slot of each numeric field (by NUM_FIELDS index, -1: none), and the STR_FIELDS index of its string. */
interface Layout {
  slot: Int8Array;
  str: number;
  /** eventClass of the name: found once per name, not by a lookup per event. */
  cls: number;
}

const layouts = new Map<string, Layout>();

function layoutOf(event: string): Layout {
  let l = layouts.get(event);
  if (l) return l;
  const f = fieldsOf(event);
  const slot = new Int8Array(NUM_FIELDS.length).fill(-1);
  f?.nums.forEach((name, j) => (slot[NUM_FIELDS.indexOf(name as NumField)] = j));
  l = { slot, str: f?.s ? STR_FIELDS.indexOf(f.s as StrField) : -1, cls: eventClass(event) };
  layouts.set(event, l);
  return l;
}

type NumFields = { readonly [K in NumField]: number | null };
type StrFields = { readonly [K in StrField]: string | null };
type Common = Pick<EventView, 'id' | 'ts' | 'cpu' | 'tid' | 'tgid' | 'comm'>;

/** The current event: common columns as properties, its fields by name (getters below). */
export class EventView {
  /** A number, not a bigint: an event id is below 2^53, and a bigint read is an allocation per event. */
  id = 0;
  ts = 0n;
  cpu = 0;
  tid = 0;
  tgid: number | null = null;
  comm = '';
  event = '';
  /** The current event's numeric slots are slots[o..o + SLOTS), its string strs[strCodes[i]]. */
  private slots: Float64Array = new Float64Array(SLOTS);
  private o = 0;
  private i = 0;
  private strCodes: Int32Array = Int32Array.of(-1);
  private strs: string[] = [];
  /** The batch the view is in (its arrays are taken once per batch, not stored per event). */
  private batch: EventBatch | null = null;
  private layout = layoutOf('');
  private readonly byCode: Layout[];

  /** names: the event name per name code (InputPlan.names); comms: comm per comm code. */
  constructor(
    private readonly names: string[] = [],
    private readonly comms: string[] = [],
  ) {
    this.byCode = names.map(layoutOf);
  }

  /** Moves the view to event i of batch b. */
  at(b: EventBatch, i: number): ReplayEvent {
    const ts = b.ts[i];
    const k = b.k[i];
    if (b !== this.batch) {
      this.batch = b;
      this.slots = b.slots;
      this.strCodes = b.s;
      this.strs = b.strs;
    }
    this.i = i;
    this.o = SLOTS * i;
    this.id = (b.idw[2 * i] >>> 0) + b.idw[2 * i + 1] * TWO_32;
    this.ts = ts === NO_TS ? (null as unknown as bigint) : ts;
    this.cpu = num(b.cpu[i]) as number;
    this.tid = num(b.tid[i]) as number;
    this.tgid = num(b.tgid[i]);
    this.comm = this.comms[b.comm[i]];
    this.event = this.names[k];
    this.layout = this.byCode[k];
    return asEvent(this);
  }

  /** The current event's eventClass bits (handlers/events.ts). */
  get eventClass(): number {
    return this.layout.cls;
  }

  /** Numeric field f (NUM_FIELDS index) of the current event. */
  num(f: number): number | null {
    const j = this.layout.slot[f];
    return j < 0 ? null : num(this.slots[this.o + j]);
  }

  /** String field f (STR_FIELDS index) of the current event. */
  str(f: number): string | null {
    if (this.layout.str !== f) return null;
    const c = this.strCodes[this.i];
    return c < 0 ? null : this.strs[c];
  }

  /** A copy that keeps this event's fields once the view moves on (a syscall's entry, to its exit). */
  detach(): ReplayEvent {
    const v = Object.assign(new EventView(), this.common());
    v.event = this.event;
    v.layout = this.layout;
    v.slots = this.slots.slice(this.o, this.o + SLOTS);
    const c = this.strCodes[this.i];
    if (c >= 0) v.setStr(this.strs[c]);
    return asEvent(v);
  }

  /** An event made from its fields by name (tests, and events the replay infers). */
  static of(
    event: string,
    common: Common,
    fields: Partial<Record<NumField, number | null> & Record<StrField, string | null>> = {},
  ): ReplayEvent {
    const v = Object.assign(new EventView(), common);
    v.event = event;
    v.layout = layoutOf(event);
    v.slots.fill(NaN);
    for (const [name, x] of Object.entries(fields)) {
      const j = v.layout.slot[NUM_FIELDS.indexOf(name as NumField)] ?? -1;
      if (j >= 0) v.slots[j] = (x as number | null) ?? NaN;
      else if (v.layout.str >= 0 && STR_FIELDS.indexOf(name as StrField) === v.layout.str) {
        if (x !== null) v.setStr(x as string);
      } else throw new Error(`${event} has no field ${name}`);
    }
    return asEvent(v);
  }

  private common(): Common {
    const { id, ts, cpu, tid, tgid, comm } = this;
    return { id, ts, cpu, tid, tgid, comm };
  }

  private setStr(s: string): void {
    this.strs = [s];
    this.strCodes = Int32Array.of(0);
  }
}

// The getters, one per field name: `e.address` reads the current event's address slot.
NUM_FIELDS.forEach((name, f) =>
  Object.defineProperty(EventView.prototype, name, {
    get(this: EventView) {
      return this.num(f);
    },
  }),
);
STR_FIELDS.forEach((name, f) =>
  Object.defineProperty(EventView.prototype, name, {
    get(this: EventView) {
      return this.str(f);
    },
  }),
);

/** One event as the handlers read it: its fields by name, as the getters above read them. */
export type ReplayEvent = EventView & NumFields & StrFields;

const num = (v: number) => (v !== v ? null : v);
/** A view as the event it shows: the getters on its prototype give it every field. */
const asEvent = (v: EventView) => v as unknown as ReplayEvent;
