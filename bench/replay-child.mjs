// One measured replay in its own process, so peak RSS is its own. `module` is the replay to run:
// this tree's built code (dist/), as the CLI runs it, in plain node; or a tree's sources, with tsx
// registered first (`tsx`: a baseline commit archived without a build). JavaScript, so that node
// runs it without tsx.
import { peakRssMb } from './peak-rss.mjs';

const [db, module, loader] = process.argv.slice(2);
if (loader === 'tsx') (await import('tsx/esm/api')).register();
const { replay } = await import(module);

const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
// RSS every 100 k events: growth with trace length shows at 25/50/75/100 % of the events.
const samples = [];
let next = 0;
const runs = await replay(db, {
  kernel: '6.18',
  onProgress: ({ events }) => {
    if (events < next) return;
    next = events + 100_000;
    samples.push([events, process.memoryUsage.rss() / 1048576]);
  },
});
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
// CPU time of all the process's threads during the replay (the model's, the worker's, DuckDB's, GC's).
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const events = runs.reduce((n, r) => n + r.events, 0);
const rssAt = [0.25, 0.5, 0.75, 1].map(
  (q) => samples.filter(([n]) => n <= q * events).pop()?.[1] ?? 0,
);
console.log(
  JSON.stringify({
    seconds,
    cpuSeconds,
    events,
    maxRssMb: peakRssMb(),
    rssAt,
  }),
);
