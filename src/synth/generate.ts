// `mmreplay synth`: one scenario simulated and written as a trace (tracefs text or a trace-cmd `.dat`), with its ground
// truth beside it (truth.ts), streaming: nothing of the trace is kept in memory.
import fs from 'node:fs';
import { SimContext } from './context.js';
import { draw, type Calibration } from './costs.js';
import { driver } from './driver.js';
import { Region } from './kernel.js';
import { LAB_CALIBRATION, LAB_CONTENTION } from './lab-costs.js';
import { KSMD_PID, Lines } from './lines.js';
import { dontneed, fork, ksmd, migrate, mprotect, pageout, uffdWp } from './racers.js';
import { Rng } from './rng.js';
import { checkRacers, type Scenario } from './scenario.js';
import { Scheduler, type SimThread, type Yield } from './scheduler.js';
import { NullSink, TraceWriter, type LineSink } from './trace-writer.js';
import { DatSink } from './dat-sink.js';
import { CsvTruth, TallyTruth, truthFiles, type TruthSink } from './truth.js';

/** The kernel's design: 6.15 is simulated only (sweeps); its traces are not written yet. */
export type SynthDesign = '5.14' | 'v8' | '6.15';

export interface SynthOptions {
  scenario: Scenario;
  seed: number;
  /** Stop making requests once this many events are written (the last request completes). */
  events: number;
  cpus: number;
  design: SynthDesign;
  /** Trace to write (ground truth beside it); absent: simulate only (sweeps). */
  out?: string;
  /** tracefs text, or a trace-cmd `.dat` (default: `dat` for a `.dat` name). */
  format?: 'text' | 'dat';
  calibration?: Calibration;
  /** Write kmem:mm_page_free lines (default: where a racer needs them, KSM). */
  frees?: boolean;
}

export interface SynthResult {
  events: number;
  requests: number;
  pages: number;
  failedPages: number;
  bySize: Map<number, [number, number, number, number]>;
  simulatedNs: number;
  /** Racer operations per second of request time (each racer's, summed). */
  racerOpsPerSecond: number;
  files: string[];
}

const DRIVER_TID = 2672;
const MADV_MERGEABLE = 12;
const REGION_BASE = 0x7f23a4200000;
const START_NS = 100_000_000_000;

/**
 * A sink that throws past `limit` events: a simulation whose threads no longer reach the driver's
 * next request (a bug) stops instead of filling the disk.
 */
function runaway(sink: LineSink, limit: number): LineSink {
  const line = sink.line.bind(sink);
  sink.line = (...a) => {
    if (sink.events >= limit)
      throw new Error(`synth: ${limit} events and the driver has not finished: a stuck simulation`);
    return line(...a);
  };
  return sink;
}

export function synthesize(o: SynthOptions): SynthResult {
  const cal = o.calibration ?? LAB_CALIBRATION;
  checkRacers(o.scenario.racers);
  // Before any file is opened.
  if (o.design === '6.15' && o.out)
    throw new Error(
      'design 6.15: the generator simulates it (--sweep) but does not write its traces (make_device_exclusive probes) yet',
    );
  const format = o.format ?? (o.out?.endsWith('.dat') ? 'dat' : 'text');
  const sink: LineSink = runaway(
    !o.out
      ? new NullSink()
      : format === 'dat'
        ? new DatSink(o.out, Math.max(1, o.cpus))
        : new TraceWriter(o.out),
    o.events > 0 ? Math.max(10 * o.events, o.events + 10_000_000) : 2_000_000_000,
  );
  const tally = new TallyTruth();
  const csv = o.out ? new CsvTruth(o.out) : null;
  const truth: TruthSink = csv
    ? {
        request: (r) => (tally.request(r), csv.request(r)),
        page: (p) => (tally.page(p), csv.page(p)),
        close: () => csv.close(),
      }
    : tally;
  const rng = new Rng(o.seed);
  const sched = new Scheduler(Math.max(1, o.cpus), START_NS);
  const lines = new Lines(sink, () => sched.now);
  lines.frees = o.frees ?? o.scenario.racers.some((r) => r.kind === 'ksm');
  const region = new Region(REGION_BASE, o.scenario.regionPages, lines);
  const sc = o.scenario;
  let made = 0;
  const nextSize = (): number | null => {
    if (sc.order === 'lab') {
      const i = Math.floor(made / sc.perSize);
      if (i >= sc.sizes.length) return null;
      made++;
      return sc.sizes[i];
    }
    if (sink.events >= o.events) return null;
    made++;
    return rng.pick(sc.sizes);
  };
  const ctx = new SimContext(sched, region, lines, rng, cal.costs, truth, sc, nextSize);
  ctx.design = o.design;
  ctx.contention = (cal.contention ?? LAB_CONTENTION).costs;
  const thread = (
    tid: number,
    cpu: number,
    body: (t: SimThread) => Generator<Yield, void, void>,
  ): SimThread => {
    const t: SimThread = {
      tid,
      comm: 'race',
      cpu,
      body: undefined as never,
      blocked: false,
      done: false,
    };
    t.body = body(t);
    ctx.add(t);
    return t;
  };
  ctx.nextPid = DRIVER_TID + 1 + sc.racers.length;
  ctx.spawn = (tid, cpu, body) => sched.spawn(thread(tid, cpu, body));
  const main = thread(DRIVER_TID, 0, () => mainThread());
  ctx.driverThread = main;
  function* mainThread(): Generator<Yield, void, void> {
    const { tid, cpu } = main;
    // race.c: map the region, write every page, start the racers, then issue the requests.
    lines.mmapEnter(tid, cpu, sc.regionPages * 4096);
    lines.mmapExit(tid, cpu, REGION_BASE);
    // race.c ksm: the region is MADV_MERGEABLE (ksm_enter registers the mm with ksmd).
    if (sc.racers.some((r) => r.kind === 'ksm')) {
      lines.madviseEnter(tid, cpu, REGION_BASE, sc.regionPages * 4096, MADV_MERGEABLE);
      lines.ksmEnter(tid, cpu);
      lines.madviseExit(tid, cpu);
    }
    for (let p = 0; p < sc.regionPages; p++) {
      region.userWrite(main, p);
      yield draw(cal.costs.racerGap, rng);
    }
    // race.c uffd_wp: the region registered with userfaultfd in WP mode (UFFD_FEATURE_WP_ASYNC).
    if (sc.racers.some((r) => r.kind === 'uffd_wp')) {
      lines.userfaultfd(tid, cpu);
      lines.uffdRegister(tid, cpu);
    }
    sc.racers.forEach((r, i) => {
      const tid = DRIVER_TID + 1 + i;
      // Racers take the other CPUs in turn; with one CPU they share the driver's.
      const cpu = o.cpus > 1 ? 1 + (i % (o.cpus - 1)) : 0;
      // ksmd is the kernel's thread, not the race program's.
      if (r.kind === 'ksm') {
        sched.spawn(thread(KSMD_PID, cpu, (self) => ksmd(ctx, self, r.rate)));
        return;
      }
      lines.clone3Enter(main.tid, main.cpu);
      lines.newTask(main.tid, main.cpu, tid);
      lines.clone3Exit(main.tid, main.cpu, tid);
      const t = thread(tid, cpu, (self) => racerBody(self, r.kind, r.rate));
      sched.spawn(t);
    });
    yield draw(cal.costs.requestGap, rng);
    yield* driver(ctx);
  }
  function* racerBody(
    self: SimThread,
    kind: string,
    rate: Scenario['racers'][number]['rate'],
  ): Generator<Yield, void, void> {
    lines.clone3Exit(self.tid, self.cpu, 0);
    yield 1;
    if (kind === 'dontneed') yield* dontneed(ctx, self, rate);
    else if (kind === 'uffd_wp') yield* uffdWp(ctx, self, rate);
    else if (kind === 'mprotect') yield* mprotect(ctx, self, rate);
    else if (kind === 'fork_exit' || kind === 'fork_write')
      yield* fork(ctx, self, rate, kind === 'fork_write');
    else if (kind === 'migrate') yield* migrate(ctx, self, rate);
    else if (kind === 'pageout') yield* pageout(ctx, self, rate);
  }
  sched.spawn(main);
  try {
    sched.run();
  } catch (e) {
    // A .dat's pages wait in temporary files beside it until close(): remove them.
    if (sink instanceof DatSink) sink.discard();
    throw e;
  }
  sink.close();
  truth.close();
  const files: string[] = [];
  if (o.out) {
    const f = truthFiles(o.out);
    fs.writeFileSync(
      f.meta,
      JSON.stringify(
        {
          generator: 'mmreplay synth',
          scenario: sc,
          seed: o.seed,
          cpus: o.cpus,
          design: o.design,
          format,
          kernel: '6.12 (make_device_exclusive_range, lib/test_hmm.c 64-page chunks)',
          events: sink.events,
          requests: made,
          calibration: { sources: cal.sources, samples: cal.samples },
          truth: { requests: f.requests, pages: f.pages },
        },
        null,
        2,
      ) + '\n',
    );
    files.push(o.out, f.requests, f.pages, f.meta);
  }
  return {
    events: sink.events,
    requests: made,
    pages: tally.pages,
    failedPages: tally.failedPages,
    bySize: tally.bySize,
    simulatedNs: sched.now - START_NS,
    racerOpsPerSecond: ctx.inFlightNs ? ctx.racerOps / (ctx.inFlightNs / 1e9) : 0,
    files,
  };
}
