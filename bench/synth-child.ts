// One measured phase of bench/synth.ts in its own process, so peak RSS is its own:
//   generate TRACE EVENTS SEED   the synthetic trace (and its truth)
//   replay DB TRACE              replay the ingested trace, then compare it with the truth
import fs from 'node:fs';
import { Db } from '../src/store/db.js';
import { replay } from '../src/replay/replay.js';
import { compareTruth } from '../src/synth/compare.js';
import { synthesize } from '../src/synth/generate.js';
import { SCENARIOS } from '../src/synth/scenario.js';
import { peakRssMb } from './peak-rss.mjs';

const [mode, ...args] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
const cpuSeconds = () => {
  const ru = process.resourceUsage();
  return (ru.userCPUTime + ru.systemCPUTime) / 1e6;
};
const maxRssMb = peakRssMb;

if (mode === 'generate') {
  const [out, events, seed] = args;
  const r = synthesize({
    scenario: SCENARIOS.dontneed,
    seed: Number(seed),
    events: Number(events),
    cpus: 2,
    design: '5.14',
    out,
  });
  console.log(
    JSON.stringify({
      seconds: seconds(),
      cpuSeconds: cpuSeconds(),
      maxRssMb: maxRssMb(),
      events: r.events,
      requests: r.requests,
      pages: r.pages,
      bytes: fs.statSync(out).size,
    }),
  );
} else if (mode === 'replay') {
  const [db, trace] = args;
  // RSS and the model thread's heap after every batch of events: growth with the trace's length
  // shows at 25/50/75/100 % of it.
  const samples: [number, number, number][] = [];
  const runs = await replay(db, {
    designs: ['5.14'],
    onProgress: ({ events }) => {
      const m = process.memoryUsage();
      samples.push([events, m.rss / 1048576, m.heapUsed / 1048576]);
    },
  });
  const events = runs.reduce((n, r) => n + r.events, 0);
  const at = (q: number) => samples.filter(([n]) => n <= q * events).pop() ?? [0, 0, 0];
  const rssAt = [0.25, 0.5, 0.75, 1].map((q) => at(q)[1]);
  const heapAt = [0.25, 0.5, 0.75, 1].map((q) => at(q)[2]);
  const replayed = {
    seconds: seconds(),
    cpuSeconds: cpuSeconds(),
    maxRssMb: maxRssMb(),
    events,
    rssAt,
    heapAt,
  };
  const d = await Db.open(db, { readOnly: true });
  const c = await compareTruth(d, trace, 0);
  d.close();
  console.log(
    JSON.stringify({
      ...replayed,
      requests: c.requests,
      pages: c.pages,
      mismatches: c.mismatches.length,
      explained: c.explained.length,
      first: c.mismatches.slice(0, 3),
    }),
  );
}
