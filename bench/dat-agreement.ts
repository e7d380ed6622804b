// `node --import tsx bench/dat-agreement.ts [.DAT...]`: for each trace-cmd .dat (default: every one
// under traces/), ingests it and what `trace-cmd report -t` prints for it (parsed by the text
// reader) into one database and counts, in time order, the events whose ns timestamp, CPU, pid,
// comm or event differ, the typed rows of each table that differ (every column both sides have:
// not `__probe_*`, which text lacks, nor an address text prints as a symbol), and the lost-events
// rows (CPU and count) that differ. Prints a row per file; exits 1 when any differs. Needs
// trace-cmd.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ingest } from '../src/ingest/ingest.js';
import { Db } from '../src/store/db.js';

const ROOT = path.resolve(import.meta.dirname, '..');

function all(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'formats') out.push(...all(p));
    } else if (/\.dat(\.xz)?$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

const files = process.argv.slice(2).length ? process.argv.slice(2) : all(path.join(ROOT, 'traces'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-dat-agreement-'));
const rows: Record<string, string | number>[] = [];
let bad = 0;
try {
  for (const [i, f] of files.entries()) {
    const dat = path.join(tmp, `t${i}.dat`);
    if (f.endsWith('.xz'))
      fs.writeFileSync(dat, execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 30 }));
    else fs.copyFileSync(f, dat);
    const report = path.join(tmp, `t${i}.report.txt`);
    const fd = fs.openSync(report, 'w');
    const r = spawnSync('trace-cmd', ['report', '-t', '-i', dat], {
      stdio: ['ignore', fd, 'ignore'],
    });
    fs.closeSync(fd);
    if (r.status !== 0) throw new Error(`trace-cmd report -t -i ${f} exited ${r.status}`);
    const dbFile = path.join(tmp, `t${i}.duckdb`);
    const [a, b] = await ingest([dat, report], { db: dbFile });
    const db = await Db.open(dbFile);
    const side = (n: number) =>
      `SELECT *, row_number() OVER (ORDER BY line_no) AS r FROM events WHERE file_id = ${n}`;
    const [{ ev }] = await db.rows<{ ev: bigint }>(
      `SELECT count(*) AS ev FROM (${side(0)}) a FULL JOIN (${side(1)}) b USING (r)
       WHERE a.id IS NULL OR b.id IS NULL OR a.ts_ns <> b.ts_ns OR a.cpu <> b.cpu OR a.tid <> b.tid OR a.comm <> b.comm OR a.event <> b.event`,
    );
    const tables = await db.rows<{ t: string }>(
      `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE column_name = 'id' AND table_name NOT IN ('_events', 'events', 'other_events', 'field_errors') ORDER BY 1`,
    );
    const typed: string[] = [];
    for (const { t } of tables) {
      const cols = (
        await db.rows<{ c: string }>(
          `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${t}' AND column_name <> 'id' ORDER BY ordinal_position`,
        )
      )
        .map((r) => r.c)
        .filter((c, _i, cs) => !c.startsWith('__probe_') && !cs.includes(`${c}_sym`));
      const sel = (n: number) =>
        `SELECT e.ts_ns, e.cpu${cols.map((c) => `, x."${c}"`).join('')} FROM "${t}" x JOIN events e USING (id) WHERE e.file_id = ${n}`;
      const [{ d }] = await db.rows<{ d: bigint }>(
        `SELECT (SELECT count(*) FROM (${sel(0)} EXCEPT ALL ${sel(1)})) + (SELECT count(*) FROM (${sel(1)} EXCEPT ALL ${sel(0)})) AS d`,
      );
      if (d) typed.push(`${t} ${d}`);
    }
    const lost = (n: number) => `SELECT cpu, count FROM lost_events WHERE file_id = ${n}`;
    const [{ l }] = await db.rows<{ l: bigint }>(
      `SELECT (SELECT count(*) FROM (${lost(0)} EXCEPT ALL ${lost(1)})) + (SELECT count(*) FROM (${lost(1)} EXCEPT ALL ${lost(0)})) AS l`,
    );
    db.close();
    const differs = Number(ev) > 0 || typed.length > 0 || Number(l) > 0;
    if (differs) bad++;
    rows.push({
      file: path.relative(ROOT, f),
      events: a.events,
      'report events': b.events,
      'events differing': Number(ev),
      'lost rows differing': Number(l),
      'typed rows differing': typed.join(', ') || 0,
    });
    for (const x of [dat, report, dbFile]) fs.rmSync(x, { force: true });
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
