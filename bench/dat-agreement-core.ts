// A trace-cmd .dat against what `trace-cmd report -t` prints for it, parsed by the text reader:
// shared by bench/dat-agreement.ts (every .dat, a table) and test/dat-agreement.test.ts.
//
// Events are compared in time order (ns timestamp, CPU, pid, comm, event), lost-events rows by CPU
// and count, and typed rows (aligned by the events' order) column by column over the columns both
// sides have, bar those text cannot give: `__probe_*` (text lacks them), an address text prints
// as a symbol (its `_sym` column), a kprobe's func and caller (trace-cmd prints addresses). Where
// the report prints a value text cannot read back (a symbol for a `%ps` kprobe argument, the
// empty name trace-cmd's tlb plugin prints for a tlb_flush reason it lacks, libtraceevent's kprobe
// arrays of zeros) the rows are counted apart (`unprinted`), not as differences.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ingest } from '../src/ingest/ingest.js';
import { Db } from '../src/store/db.js';

export interface DatAgreement {
  events: number;
  reportEvents: number;
  /** Events that differ, in time order. */
  eventsDiffering: number;
  lostDiffering: number;
  /** Per table.column: rows whose values differ (the text's neither NULL nor empty). */
  differing: Record<string, number>;
  /** Per table.column: rows the report printed unreadably (NULL or '' from text, an array of
   *  zeros) where the .dat has a value. */
  unprinted: Record<string, number>;
  /** The kprobe tables (those with `__probe_*` columns). */
  kprobeTables: string[];
}

/** Every .dat under dir (not its format directories), compressed or not. */
export function datFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'formats') out.push(...datFiles(p));
    } else if (/\.dat(\.xz)?$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Compares `file` with its report, working in `tmp` (left empty). Needs trace-cmd. */
export async function datAgreement(file: string, tmp: string): Promise<DatAgreement> {
  const dat = path.join(tmp, 'agreement.dat');
  const report = path.join(tmp, 'agreement.report.txt');
  const dbA = path.join(tmp, 'agreement-a.duckdb');
  const dbB = path.join(tmp, 'agreement-b.duckdb');
  try {
    if (file.endsWith('.xz'))
      fs.writeFileSync(dat, execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 }));
    else fs.copyFileSync(file, dat);
    const fd = fs.openSync(report, 'w');
    const r = spawnSync('trace-cmd', ['report', '-t', '-i', dat], {
      stdio: ['ignore', fd, 'ignore'],
    });
    fs.closeSync(fd);
    if (r.status !== 0) throw new Error(`trace-cmd report -t -i ${file} exited ${r.status}`);
    // Two databases: a kprobe's table typed from the .dat's format files and the one typed from
    // the report's text have different columns, which one database cannot hold.
    const [a] = await ingest([dat], { db: dbA });
    // The report read as the .dat's own directory would have it: its probe definitions and formats.
    const beside = (name: string) => {
      const p = path.join(path.dirname(file), name);
      return fs.existsSync(p) ? p : undefined;
    };
    const probes = beside('kprobe_events');
    const [b] = await ingest([report], {
      db: dbB,
      probes: probes ? [probes] : undefined,
      formatsDir: beside('formats'),
    });
    const db = await Db.open(':memory:', { create: true });
    try {
      await db.run(`ATTACH '${dbA}' AS a (READ_ONLY); ATTACH '${dbB}' AS b (READ_ONLY)`);
      return { events: a.events, reportEvents: b.events, ...(await compare(db)) };
    } finally {
      db.close();
    }
  } finally {
    for (const x of [dat, report, dbA, dbB]) fs.rmSync(x, { force: true });
  }
}

async function compare(db: Db): Promise<Omit<DatAgreement, 'events' | 'reportEvents'>> {
  // Each side's events numbered in order once (per typed table it was most of the time).
  for (const x of ['a', 'b'])
    await db.run(
      `CREATE TEMP TABLE e_${x} AS SELECT *, row_number() OVER (ORDER BY line_no) AS r FROM ${x}.events`,
    );
  const side = (x: string) => `e_${x}`;
  const [{ ev }] = await db.rows<{ ev: bigint }>(
    `SELECT count(*) AS ev FROM ${side('a')} a FULL JOIN ${side('b')} b USING (r)
     WHERE a.id IS NULL OR b.id IS NULL OR a.ts_ns <> b.ts_ns OR a.cpu <> b.cpu OR a.tid <> b.tid OR a.comm <> b.comm OR a.event <> b.event`,
  );
  const lost = (x: string) => `SELECT cpu, count FROM ${x}.lost_events`;
  const [{ l }] = await db.rows<{ l: bigint }>(
    `SELECT (SELECT count(*) FROM (${lost('a')} EXCEPT ALL ${lost('b')})) + (SELECT count(*) FROM (${lost('b')} EXCEPT ALL ${lost('a')})) AS l`,
  );
  const differing: Record<string, number> = {};
  const unprinted: Record<string, number> = {};
  const kprobeTables: string[] = [];
  const tables = await db.rows<{ t: string }>(
    `SELECT DISTINCT table_name AS t FROM information_schema.columns WHERE table_catalog = 'a' AND column_name = 'id' AND table_name NOT IN ('_events', 'events', 'other_events', 'field_errors') ORDER BY 1`,
  );
  for (const { t } of tables) {
    const colsOf = async (x: string) =>
      (
        await db.rows<{ c: string }>(
          `SELECT column_name AS c FROM information_schema.columns WHERE table_catalog = '${x}' AND table_name = '${t}' AND column_name <> 'id' ORDER BY ordinal_position`,
        )
      ).map((r) => r.c);
    const inB = await colsOf('b');
    if (!inB.length) {
      differing[`${t} (not in the report)`] = 1;
      continue;
    }
    const all = await colsOf('a');
    const kprobe = all.some((c) => c.startsWith('__probe_'));
    if (kprobe) kprobeTables.push(t);
    const cols = all.filter(
      (c) =>
        !c.startsWith('__probe_') &&
        !all.includes(`${c}_sym`) &&
        !(kprobe && (c === 'func' || c === 'caller')) &&
        inB.includes(c),
    );
    if (!cols.length) continue;
    // Each side's typed rows numbered by their events' order (the events agree in order).
    const rows = (x: string) =>
      `SELECT e.r${cols.map((c) => `, t."${c}"::VARCHAR AS "${c}"`).join('')} FROM ${x}."${t}" t JOIN ${side(x)} e USING (id)`;
    // Unreadable from the report: NULL or '', or libtraceevent's kprobe array of zeros.
    const unreadable = (c: string) =>
      `(coalesce(b."${c}", '') = '' OR regexp_full_match(b."${c}", '\\{0x0(,0x0)*\\}'))`;
    const counts = cols
      .map(
        (c) =>
          `count(*) FILTER (WHERE NOT ${unreadable(c)} AND a."${c}" IS DISTINCT FROM b."${c}") AS "d_${c}", ` +
          `count(*) FILTER (WHERE ${unreadable(c)} AND a."${c}" IS DISTINCT FROM b."${c}") AS "u_${c}"`,
      )
      .join(', ');
    const [row] = await db.rows<Record<string, bigint>>(
      `SELECT count(*) FILTER (WHERE a.r IS NULL OR b.r IS NULL) AS unmatched, ${counts} FROM (${rows('a')}) a FULL JOIN (${rows('b')}) b USING (r)`,
    );
    if (Number(row.unmatched)) differing[`${t} (rows)`] = Number(row.unmatched);
    for (const c of cols) {
      if (Number(row[`d_${c}`])) differing[`${t}.${c}`] = Number(row[`d_${c}`]);
      if (Number(row[`u_${c}`])) unprinted[`${t}.${c}`] = Number(row[`u_${c}`]);
    }
  }
  return {
    eventsDiffering: Number(ev),
    lostDiffering: Number(l),
    differing,
    unprinted,
    kprobeTables,
  };
}
