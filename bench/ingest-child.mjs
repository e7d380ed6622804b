// One measured ingest run in its own process, so peak RSS is its own. It runs the built code
// (dist/) as the CLI does when it is fresh, in plain node: no tsx, whose loader thread (another V8
// isolate) added ~40 MB to peak RSS that the CLI does not have. With dist/ stale it registers tsx
// and runs the sources: the parsing worker then compiles them when it starts, inside the measured
// call. JavaScript, so that node runs it without tsx.
import { distIsFresh } from '../scripts/dist-fresh.mjs';
import { peakRssMb } from './peak-rss.mjs';

let ingest;
if (distIsFresh()) ({ ingest } = await import('../dist/src/ingest/ingest.js'));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ ingest } = await import('../src/ingest/ingest.ts'));
}

const [file, db] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const [s] = await ingest([file], { db });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const ru = process.resourceUsage();
// CPU time of all the process's threads: steadier than wall time on a shared machine.
const cpuSeconds = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
// ingestCpuSeconds leaves out start-up (loading the code, and compiling it through tsx when dist/ is stale).
const ingestCpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  JSON.stringify({
    seconds,
    cpuSeconds,
    ingestCpuSeconds,
    maxRssMb: peakRssMb(),
    events: s.events,
    unparsed: s.unparsed,
  }),
);
