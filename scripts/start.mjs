// `npm start`: the main job on a bundled real trace. A QEMU lab kernel (Linux 6.12 with test_hmm)
// ran HMM_DMIRROR_EXCLUSIVE requests of 1 to 512 pages while another thread zapped and refaulted
// pages of the same region (traces/lab/6.12/race-dontneed). Ingest it, replay it through the model
// under each device-exclusive design, and print why requests failed, with charts in out/charts,
// the HTML report out/report.html and a Perfetto timeline.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin/mmreplay.js');
fs.mkdirSync(path.join(root, 'out'), { recursive: true });
const run = (args) => {
  process.stdout.write(`\n$ mmreplay ${args.join(' ')}\n`);
  execFileSync(bin, args, { stdio: 'inherit', cwd: root });
};

const trace = 'traces/lab/6.12/race-dontneed/trace.txt.xz';
const db = 'out/race-dontneed.duckdb';
run(['ingest', trace, '--db', db]);
run(['replay', db, '--design', '5.14', 'v8', '6.15']);
run(['exclusive', db, '--charts', 'out/charts']);
run(['query', db, `SELECT level, reason, count(*) AS n FROM exclusive_disagreements WHERE design = '5.14' GROUP BY ALL ORDER BY n DESC`]);
// The review report (notebooks/review.md: failures by size under each design, one failed request
// page by page, trace quality) and the timeline for the Perfetto UI.
run(['report', 'review', db, '-o', 'out/report.html']);
run(['export', db, '--perfetto', '-o', 'out/race-dontneed.perfetto.json']);
process.stdout.write(`\nreport: ${path.join(root, 'out/report.html')}\ntimeline: ${path.join(root, 'out/race-dontneed.perfetto.json')} (open it in https://ui.perfetto.dev)\n`);
