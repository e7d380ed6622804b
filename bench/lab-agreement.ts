// How often the replay gives the kernel's result, per lab run and probe set: each trace is ingested
// as it lies (with whatever is beside it) or, with --alone, copied alone into an empty directory
// (no format files, definitions or kallsyms), replayed under the kernel's own design, and each
// request's predicted result compared with the race program's RACE_CALL log (ret, errno), matched
// by thread, address and size in order. Misses are listed with the replay's reason. --drop E1,E2
// derives, from tracefs or report text, the trace a user who probed less would have recorded: every
// line of those events is left out (the file on disk is untouched); it implies --alone.
// Usage: node --import tsx bench/lab-agreement.ts [--alone] [--drop E,...] [--file trace.txt.xz|report.txt.xz] DIR...
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../src/store/db.js';
import { ingest } from '../src/ingest/ingest.js';
import { replay } from '../src/replay/replay.js';

const args = process.argv.slice(2);
const value = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : null);
const file = value('--file') ?? 'trace.txt.xz';
const drop = value('--drop')?.split(',') ?? [];
const alone = args.includes('--alone') || drop.length > 0;
const dirs = args.filter(
  (a, i) => !a.startsWith('--') && !['--file', '--drop'].includes(args[i - 1]),
);
const dropped = new RegExp(` (${drop.join('|')}): `);

interface Call {
  tid: number;
  addr: bigint;
  npages: number;
  result: number;
}

/** The kernel's result per request: RACE_CALL's ret, or -errno when it failed. */
function kernelResults(dir: string): Call[] {
  const out: Call[] = [];
  for (const line of fs.readFileSync(path.join(dir, 'stdout.log'), 'utf8').split('\n')) {
    if (!line.startsWith('RACE_CALL ')) continue;
    const kv = Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    out.push({
      tid: Number(kv.tid),
      addr: BigInt(kv.addr),
      npages: Number(kv.npages),
      result: Number(kv.ret) < 0 ? -Number(kv.errno) : Number(kv.ret),
    });
  }
  return out;
}

let total = 0;
let agree = 0;
for (const dir of dirs) {
  let trace = path.join(dir, file);
  if (alone) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-alone-'));
    if (drop.length) {
      const text = execFileSync('xz', ['-dc', trace], { maxBuffer: 1 << 30 }).toString();
      const kept = text.split('\n').filter((l) => !dropped.test(l));
      trace = path.join(tmp, file.replace(/\.xz$/, ''));
      fs.writeFileSync(trace, kept.join('\n'));
    } else {
      fs.copyFileSync(trace, path.join(tmp, file));
      trace = path.join(tmp, file);
    }
  }
  const db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lab-agree-')), 'x.duckdb');
  await ingest([trace], { db });
  await replay(db);
  const d = await Db.open(db);
  const rows = await d.rows<{
    tid: number;
    start_va: bigint | null;
    npages: number | null;
    predicted_result: number;
    note: string | null;
  }>(`SELECT tid, start_va, npages, predicted_result, note FROM exclusive_requests ORDER BY ts`);
  d.close();
  const kernel = kernelResults(dir);
  const used = new Set<number>();
  let n = 0;
  let ok = 0;
  const misses: string[] = [];
  for (const r of rows) {
    const k = kernel.findIndex(
      (c, i) =>
        !used.has(i) &&
        c.tid === r.tid &&
        c.addr === BigInt(r.start_va ?? -1) &&
        c.npages === r.npages,
    );
    if (k < 0) continue;
    used.add(k);
    n++;
    if (kernel[k].result === r.predicted_result) ok++;
    else
      misses.push(
        `  0x${kernel[k].addr.toString(16)} ${kernel[k].npages}p: kernel ${kernel[k].result}, model ${r.predicted_result}${r.note ? ` (${r.note})` : ''}`,
      );
  }
  total += n;
  agree += ok;
  console.log(
    `${dir}: ${ok}/${n} requests agree (${kernel.length} in the log, ${rows.length} replayed)`,
  );
  for (const m of misses.slice(0, 12)) console.log(m);
}
console.log(`all: ${agree}/${total} (${((100 * agree) / Math.max(total, 1)).toFixed(1)} %)`);
