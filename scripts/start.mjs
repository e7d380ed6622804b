// `npm start`: the main job on a bundled real trace — ingest, replay, and the summaries.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin/mmreplay.js');
const out = path.join(root, 'out');
fs.mkdirSync(out, { recursive: true });
const run = (args) => {
  process.stdout.write(`\n$ mmreplay ${args.join(' ')}\n`);
  execFileSync(bin, args, { stdio: 'inherit', cwd: root });
};

const trace = 'traces/host/fork_cow/trace.txt';
const db = 'out/fork_cow.duckdb';
run(['ingest', trace, '--db', db]);
run(['info', db]);
run(['replay', db, '--kernel', '6.18']);
run(['query', db, `SELECT label, count(*) AS pages, count(*) FILTER (present_match) AS present_agrees, count(*) FILTER (confidence = 'observed') AS pfn_observed, count(*) FILTER (pfn_match) AS pfn_agrees FROM pagemap_check GROUP BY label ORDER BY min(ts)`]);
run(['query', db, `SELECT coalesce(note, 'checked') AS rss_rows, count(*) AS n, count(*) FILTER (match) AS agree FROM rss_check GROUP BY ALL ORDER BY n DESC`]);
