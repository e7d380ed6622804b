// One measured replay in its own process, so peak RSS is its own.
import { replay } from '../src/replay/replay.js';

const [db] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const runs = await replay(db, { kernel: '6.18' });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ seconds, events: runs.reduce((n, r) => n + r.events, 0), maxRssMb: process.resourceUsage().maxRSS / 1024 }));
