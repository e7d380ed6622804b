// One measured ingest run in its own process, so peak RSS is its own.
import { ingest } from '../src/ingest.js';

const [file, db] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const [s] = await ingest([file], { db });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, events: s.events, unparsed: s.unparsed }));
