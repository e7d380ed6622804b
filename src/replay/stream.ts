// The replay's event loop: a file's events, batch by batch from its input/output (replay-io.ts),
// through the adapter and the model; at the end, the state still open is written out.
import type { Adapter, ReplayEvent } from './adapter.js';
import { EventView } from './event_view.js';
import type { InputPlan } from './input.js';
import { checkInvariants } from './invariants.js';
import type { Model } from './model.js';
import type { ReplayWriter } from './output.js';
import type { ReplayIo } from './replay-io.js';

/** How long after a lost-events marker events that break invariants are labelled as such. */
const LOSS_WINDOW = 50_000_000n;

export interface StreamOptions {
  fileId: number;
  /** Only this process's events (and every task_newtask, which makes the tasks). */
  pid?: number;
  /** The file's lost-events markers' times, in order (NULL first: before the trace). */
  losses: (bigint | null)[];
  /** Sees the model's state once the events are replayed. */
  inspect?: () => void;
  onProgress?: (p: { fileId: number; events: number }) => void;
}

export interface Streamed {
  /** Events replayed. */
  n: number;
  firstTs: bigint | null;
  /** The event the model threw on, and what it threw (the input is then let go of). */
  crash: { e: ReplayEvent; err: unknown } | null;
}

/** Replays every event io gives, writes the end state and closes io (aborts it on a crash). */
export async function streamEvents(
  io: ReplayIo,
  plan: InputPlan | null,
  m: Model,
  w: ReplayWriter,
  adapter: Adapter,
  o: StreamOptions,
): Promise<Streamed> {
  const { losses, pid } = o;
  let lossIdx = 0;
  let firstTs: bigint | null = null;
  let n = 0;
  let crash: Streamed['crash'] = null;
  const view = new EventView(plan?.names, plan?.comms);
  w.current = view;
  try {
    stream: for (;;) {
      const batch = await io.next();
      if (batch.n === 0) break;
      adapter.dx?.setGupPlans(io.plans);
      for (let i = 0; i < batch.n; i++) {
        const e = view.at(batch, i);
        if (pid !== undefined) {
          const t = m.tasks.get(e.tid);
          if (e.tid !== pid && e.tgid !== pid && t?.tgid !== pid && e.event !== 'task:task_newtask')
            continue;
        }
        firstTs ??= e.ts;
        m.now = e.ts;
        m.eventId = e.id;
        m.tid = e.tid;
        while (lossIdx < losses.length && (losses[lossIdx] ?? firstTs) + LOSS_WINDOW < e.ts)
          lossIdx++;
        m.nearLoss = lossIdx < losses.length && (losses[lossIdx] ?? firstTs) <= e.ts;
        try {
          adapter.handle(e);
          checkInvariants(m);
        } catch (err) {
          crash = { e, err };
          break stream;
        }
        n++;
      }
      o.onProgress?.({ fileId: o.fileId, events: n });
      await io.drain();
    }
    if (!crash) {
      adapter.flush();
      o.inspect?.();
      writeEndState(m, w, o.fileId);
    }
  } catch (err) {
    await io.abort();
    throw err;
  }
  if (crash) await io.abort();
  else await io.close();
  return { n, firstTs, crash };
}

/** The state still open at the end: every PTE, VMA, mm, folio and task. */
function writeEndState(m: Model, w: ReplayWriter, fileId: number): void {
  const end = m.now;
  for (const mm of m.mms) {
    for (const [vpn, p] of mm.ptes) w.pte(mm, vpn, p, end);
    for (const v of mm.vmas) w.vma(mm, v, end);
    w.mm({
      file_id: fileId,
      mm: mm.id,
      tgid: mm.tgid,
      mm_id: mm.mmId,
      first_ts: mm.start,
      pre_trace: mm.preTrace,
    });
  }
  for (const f of m.folios.values()) if (!f.zero) w.folio(f, end);
  for (const f of m.parkedFolios()) w.folio(f, end);
  for (const t of m.tasks.values()) w.task(t);
  w.close();
}
