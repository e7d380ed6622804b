// `node --import tsx bench/compare-ingest.ts [--base REV] [--modes auto,worker,inline] [TRACE...]`:
// ingests each trace (default: every bundled trace under traces/, text and binary, compressed or
// not) with the source tree of commit REV (default: the merge base with main) and with this
// working tree, once per text-ingest mode (default auto: by size; worker, inline: forced through
// MMREPLAY_INGEST_WORKER), each side in its own process and all at once,
// and compares every table and view of the two databases with EXCEPT ALL both ways. Prints the
// traces and tables that differ (or a line saying all agree) and exits 1 when any does.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { args, baseTree, opt } from './args.js';

const ROOT = path.resolve(import.meta.dirname, '..');

const git = (...a: string[]) => execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' });

/** Every trace under traces/: the captures, not their logs, sidecars or format files. */
function bundled(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'formats') walk(p);
      } else if (
        /^(trace|trace_pipe|report(-\w)?|perf-script(-F)?)\.txt(\.xz|\.gz|\.zst)?$|\.dat(\.xz)?$|^perf\.data$/.test(
          e.name,
        )
      )
        out.push(path.relative(ROOT, p));
    }
  };
  walk(path.join(ROOT, 'traces'));
  return out.sort();
}

const base = opt('--base') ?? git('merge-base', 'HEAD', 'main').trim();
const modes = (opt('--modes') ?? 'auto').split(',');
const traces = args.length ? args : bundled();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmreplay-compare-ingest-'));

// One process per side ingests every trace, each into its own database.
const RUNNER = `import { ingest } from './src/ingest/ingest.ts';
const [out, ...files] = process.argv.slice(2);
for (const [i, f] of files.entries()) {
  try { await ingest([f], { db: out + '/t' + i + '.duckdb' }); }
  catch (e) { (await import('node:fs')).writeFileSync(out + '/t' + i + '.error', String(e)); }
}
`;

/** Ingests every trace with the tree's sources, in a process of its own; resolves to its seconds. */
function side(tree: string, out: string, env: Record<string, string> = {}): Promise<number> {
  fs.mkdirSync(out);
  const runner = path.join(tree, `.compare-ingest-run-${path.basename(out)}.ts`);
  fs.writeFileSync(runner, RUNNER);
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', runner, out, ...traces.map((t) => path.resolve(ROOT, t))],
    { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } },
  );
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => {
      fs.rmSync(runner);
      if (code !== 0) reject(new Error(`ingest in ${tree} exited ${code}`));
      else resolve((Date.now() - t0) / 1000);
    }),
  );
}

try {
  const tree = baseTree(ROOT, base, tmp);
  const dirty = git('status', '--porcelain', '--untracked-files=no', 'src').trim() !== '';
  console.log(
    `${traces.length} traces; base ${git('rev-parse', '--short', base).trim()} against this tree (${git('rev-parse', '--short', 'HEAD').trim()}${dirty ? ' + uncommitted changes' : ''}), modes ${modes.join(', ')}`,
  );
  // This tree's sources as they are now, so that edits made during the run do not mix in.
  const headTree = path.join(tmp, 'head');
  fs.mkdirSync(headTree);
  fs.cpSync(path.join(ROOT, 'src'), path.join(headTree, 'src'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(headTree, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(headTree, 'node_modules'));
  // Every side at once: the machine's cores share them out.
  const seconds = await Promise.all([
    side(tree, path.join(tmp, 'a')),
    ...modes.map((mode) =>
      side(
        headTree,
        path.join(tmp, `b-${mode}`),
        mode === 'auto' ? {} : { MMREPLAY_INGEST_WORKER: mode },
      ),
    ),
  ]);
  console.log(
    `seconds: base ${seconds[0]}, ${modes.map((m, i) => `${m} ${seconds[i + 1]}`).join(', ')}`,
  );
  let differing = 0;
  for (const mode of modes) {
    const dir = path.join(tmp, `b-${mode}`);
    for (const [i, trace] of traces.entries()) {
      const a = path.join(tmp, 'a', `t${i}`);
      const b = path.join(dir, `t${i}`);
      const errA = fs.existsSync(`${a}.error`) ? fs.readFileSync(`${a}.error`, 'utf8') : null;
      const errB = fs.existsSync(`${b}.error`) ? fs.readFileSync(`${b}.error`, 'utf8') : null;
      if (errA || errB) {
        if (errA !== errB) {
          differing++;
          console.log(`${mode} ${trace}: errors differ: base ${errA} / this ${errB}`);
        }
        continue;
      }
      const diffs = await compare(`${a}.duckdb`, `${b}.duckdb`);
      for (const d of diffs) console.log(`${mode} ${trace}: ${d}`);
      differing += diffs.length;
      fs.rmSync(`${b}.duckdb`);
    }
  }
  console.log(differing ? `${differing} differences` : 'every table and view agrees');
  process.exitCode = differing ? 1 : 0;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** Tables and views of a and b that differ (row counts both ways by EXCEPT ALL), or are not in both. */
async function compare(a: string, b: string): Promise<string[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await conn.run(`ATTACH '${a}' AS a (READ_ONLY); ATTACH '${b}' AS b (READ_ONLY)`);
    const names = async (db: string) =>
      (
        await conn.runAndReadAll(
          `SELECT table_name FROM information_schema.tables WHERE table_catalog = '${db}' AND table_schema = 'main' ORDER BY 1`,
        )
      )
        .getRows()
        .map((r) => String(r[0]));
    const ta = await names('a');
    const tb = await names('b');
    const out: string[] = [];
    for (const t of new Set([...ta, ...tb])) {
      if (!ta.includes(t) || !tb.includes(t)) {
        out.push(`${t} only in ${ta.includes(t) ? 'base' : 'this tree'}`);
        continue;
      }
      const q = (x: string, y: string) =>
        `SELECT count(*) FROM (SELECT * FROM ${x}."${t}" EXCEPT ALL SELECT * FROM ${y}."${t}")`;
      const r = await conn.runAndReadAll(`SELECT (${q('a', 'b')}), (${q('b', 'a')})`);
      const [onlyA, onlyB] = r.getRows()[0].map(Number);
      if (onlyA || onlyB) out.push(`${t}: ${onlyA} rows only in base, ${onlyB} only in this tree`);
    }
    return out;
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}
