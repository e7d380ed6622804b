import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
const [srcDb, what, perN] = process.argv.slice(2);
const f='/tmp/exp/floor2.duckdb'; fs.rmSync(f,{force:true}); fs.rmSync(f+'.wal',{force:true});
const inst = await DuckDBInstance.create(f); const c = await inst.connect();
await c.run(`SET threads=1; SET memory_limit='4GB'`);
await c.run(`ATTACH '${srcDb}' AS src (READ_ONLY)`);
const tabs = what === 'ingest'
  ? (await c.runAndReadAll(`SELECT table_name FROM information_schema.tables WHERE table_catalog='src' AND table_type='BASE TABLE'`)).getRows().map(r=>r[0])
  : ['pte_intervals','folio_intervals','pgtable_check','rss_check','vma_intervals','tasks','mm','invariant_violations'];
let rows = 0;
for (const t of tabs) { await c.run(`CREATE TEMP TABLE "m_${t}" AS SELECT * FROM src."${t}"`); await c.run(`CREATE TABLE "${t}" AS SELECT * FROM src."${t}" LIMIT 0`); rows += Number((await c.runAndReadAll(`SELECT count(*) FROM "m_${t}"`)).getRows()[0][0]); }
await c.run('DETACH src');
const ru0 = process.cpuUsage();
const t=performance.now();
for (const t2 of tabs) await c.run(`INSERT INTO "${t2}" SELECT * FROM "m_${t2}"`);
await c.run('CHECKPOINT');
const ms = performance.now()-t; const cpu = (process.cpuUsage(ru0).user + process.cpuUsage(ru0).system)/1000;
console.log(`${what}: ${tabs.length} tables, ${rows} rows stored in ${ms.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU: ${(cpu*1000/Number(perN)).toFixed(2)} us CPU per event (${perN} events)`);
