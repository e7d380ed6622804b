// `node --import tsx bench/dat-agreement.ts [.DAT...]`: for each trace-cmd .dat (default: every one
// under traces/), ingests it and what `trace-cmd report -t` prints for it (parsed by the text
// reader) and compares them (dat-agreement-core.ts: events in time order, lost-events rows, typed
// rows column by column, apart from what the report prints unreadably). Prints a row per file;
// exits 1 when any differs. Needs trace-cmd. test/dat-agreement.test.ts runs the same comparison.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { datAgreement, datFiles } from './dat-agreement-core.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : datFiles(path.join(ROOT, 'traces'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-dat-agreement-'));
const rows: Record<string, string | number>[] = [];
const list = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 0;
let bad = 0;
try {
  for (const [i, f] of files.entries()) {
    const c0 = process.cpuUsage();
    const a = await datAgreement(f, tmp);
    const cpu = process.cpuUsage(c0);
    const differs =
      a.eventsDiffering > 0 || a.lostDiffering > 0 || Object.keys(a.differing).length > 0;
    if (differs) bad++;
    rows.push({
      file: path.relative(ROOT, f),
      events: a.events,
      'report events': a.reportEvents,
      'events differing': a.eventsDiffering,
      'lost rows differing': a.lostDiffering,
      'typed values differing': list(a.differing),
      'unprinted by the report': list(a.unprinted),
      'CPU s': ((cpu.user + cpu.system) / 1e6).toFixed(1),
    });
    console.error(
      `${i + 1}/${files.length} ${path.relative(ROOT, f)}${differs ? ': differs' : ''}`,
    );
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.table(rows);
console.log(bad ? `${bad} of ${files.length} files differ` : `all ${files.length} files agree`);
process.exitCode = bad ? 1 : 0;
