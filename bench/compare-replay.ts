// `node --import tsx bench/compare-replay.ts [--base REV] [--designs D,D..] TRACE...`: replays each
// trace with the source tree of commit REV (default: the merge base with main) and with this
// working tree, on copies of one ingested database, and compares every replay output table of the
// two with EXCEPT ALL both ways (replay_runs without its wall-time column). Prints one row per
// trace and table that differ (or a line saying all agree), and exits 1 when any does.
// `--dump DB OUT` instead writes DB's replay tables to OUT/<table>.parquet (the canonical form:
// every column, rows sorted by all columns), for comparing by hand.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ingest } from '../src/ingest/ingest.js';
import { REPLAY_TABLES, replayColumns, replayDiff } from '../src/replay/diff.js';
import { args, baseTree, opt } from './args.js';

const ROOT = path.resolve(import.meta.dirname, '..');

if (args[0] === '--dump') {
  await dump(args[1], args[2]);
  process.exit(0);
}

const base = opt('--base') ?? git('merge-base', 'HEAD', 'main').trim();
const designs = opt('--designs');
const traces = args;
if (!traces.length) {
  console.error('usage: compare-replay.ts [--base REV] [--designs D,D..] TRACE... | --dump DB OUT');
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-compare-'));
try {
  const tree = baseTree(ROOT, base, tmp);
  const baseRev = git('rev-parse', '--short', base).trim();
  const headRev = git('rev-parse', '--short', 'HEAD').trim();
  const dirty = git('status', '--porcelain', '--untracked-files=no', 'src').trim() !== '';
  console.log(
    `base ${baseRev}, against this tree (${headRev}${dirty ? ' + uncommitted changes' : ''})`,
  );
  let differing = 0;
  const summary: Record<string, string | number>[] = [];
  for (const [i, trace] of traces.entries()) {
    const db = path.join(tmp, `t${i}.duckdb`);
    await ingest([trace], { db });
    const a = path.join(tmp, `t${i}.base.duckdb`);
    const b = path.join(tmp, `t${i}.head.duckdb`);
    fs.copyFileSync(db, a);
    fs.copyFileSync(db, b);
    const ta = replayWith(tree, a);
    const tb = replayWith(ROOT, b);
    const diffs = await replayDiff(a, b);
    const rows = diffs.reduce((n, d) => n + d.rows, 0);
    const bad = diffs.filter((d) => d.onlyA || d.onlyB);
    differing += bad.length;
    summary.push({
      trace: path.relative(ROOT, path.resolve(trace)),
      events: ta.events,
      'rows compared': rows,
      'tables differing': bad.length,
      'base s': ta.seconds.toFixed(2),
      'this s': tb.seconds.toFixed(2),
    });
    for (const d of bad)
      console.log(
        `${trace}: ${d.table}: ${d.onlyA} rows only in base, ${d.onlyB} only in this tree`,
      );
    fs.rmSync(db, { force: true });
    fs.rmSync(a, { force: true });
    fs.rmSync(b, { force: true });
  }
  console.table(summary);
  console.log(
    differing
      ? `${differing} table(s) differ`
      : `all ${REPLAY_TABLES.length} replay tables identical (EXCEPT ALL both ways) on ${traces.length} trace(s)`,
  );
  process.exitCode = differing ? 1 : 0;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

function git(...a: string[]): string {
  return execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' });
}

/** Replays db in a child process with the replay of the source tree at `tree`. */
function replayWith(tree: string, db: string): { events: number; seconds: number } {
  const runner = path.join(tree, '.compare-run.ts');
  fs.writeFileSync(
    runner,
    `import { replay } from './src/replay/replay.js';
const designs = process.argv[3] ? process.argv[3].split(',') : undefined;
const t0 = performance.now();
const runs = await replay(process.argv[2], designs ? { designs: designs as never } : {});
console.log(JSON.stringify({ events: runs.reduce((n, r) => n + r.events, 0), seconds: (performance.now() - t0) / 1000 }));
`,
  );
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', runner, db, designs ?? ''], {
      encoding: 'utf8',
      cwd: ROOT,
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) throw new Error(`replay with ${tree} failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    fs.rmSync(runner, { force: true });
  }
}

/** Every replay table of db as OUT/<table>.parquet, rows sorted by all columns. */
async function dump(db: string, out: string): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  try {
    await c.run(`ATTACH '${db}' AS d (READ_ONLY)`);
    for (const t of REPLAY_TABLES) {
      const cols = await replayColumns(c, 'd', t);
      if (!cols.length) continue;
      const list = cols.map((x) => `"${x}"`).join(', ');
      await c.run(
        `COPY (SELECT ${list} FROM d."${t}" ORDER BY ALL) TO '${path.join(out, `${t}.parquet`)}' (FORMAT parquet)`,
      );
    }
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}
