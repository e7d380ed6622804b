// One measured ingest run in its own process, so peak RSS is its own.
import { ingest } from '../src/ingest.js';

const [file, db] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const [s] = await ingest([file], { db });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const ru = process.resourceUsage();
// CPU time of all the process's threads: steadier than wall time on a shared machine.
const cpuSeconds = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
console.log(JSON.stringify({ seconds, cpuSeconds, maxRssMb: ru.maxRSS / 1024, events: s.events, unparsed: s.unparsed }));
