// The replay's input and appends on a worker thread (replay-io.ts WorkerIo) give the tables the
// same thread does (InlineIo): row for row, on traces with lost events, out-of-order timestamps,
// device-exclusive calls and a second, counterfactual design.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { replayDiff } from '../src/replay/diff.js';
import { planInput } from '../src/replay/input.js';
import { replay } from '../src/replay/replay.js';
import { find, HOST, ingestTemp, ROOT, tmpDir } from './helpers.js';

/** Replays copies of one database with the input and appends inline and on the worker. */
async function same(file: string, designs?: ('6.15' | 'v8')[]): Promise<Record<string, number>> {
  const { db, dbFile } = await ingestTemp([file]);
  const fileId = (await db.rows<{ f: number }>('SELECT min(file_id) f FROM files'))[0].f;
  const plan = await planInput(db, fileId, {});
  db.close();
  const worker = dbFile.replace(/\.duckdb$/, '.worker.duckdb');
  fs.copyFileSync(dbFile, worker);
  const [a] = await replay(dbFile, { designs, io: 'inline' });
  const [b] = await replay(worker, { designs, io: 'worker' });
  expect(b.events).toBe(a.events);
  const rows: Record<string, number> = {};
  for (const { table, rows: n, onlyA, onlyB } of await replayDiff(dbFile, worker)) {
    expect({ table, onlyA, onlyB }).toEqual({ table, onlyA: 0, onlyB: 0 });
    rows[table] = n;
  }
  expect(rows.pte_intervals).toBeGreaterThan(0);
  // The database is the caller's again once the worker gave it back.
  const again = await Db.open(worker);
  expect((await again.rows<{ n: bigint }>('SELECT count(*) n FROM replay_runs'))[0].n).toBe(1n);
  again.close();
  return { ...rows, maxBack: Number(plan!.maxBack) };
}

describe('replay on a worker thread', () => {
  it('writes the tables the model thread does (lost events)', async () => {
    await same(find(path.join(HOST, 'lost'), 'trace_pipe.txt')!);
  });

  it('writes the tables the model thread does (device-exclusive race, two designs)', async () => {
    const dir = path.join(ROOT, 'traces/lab/6.12-r2/race-two_req/A');
    const diff = await same(find(dir, 'trace.txt')!, ['6.15', 'v8']);
    expect(diff.exclusive_pages).toBeGreaterThan(0);
  });

  it('writes the tables the model thread does (timestamps stepping back: the reorder heap)', async () => {
    // Swap neighbouring events now and then, as per-CPU buffers merged out of order would be.
    const lines = fs
      .readFileSync(find(path.join(HOST, 'threads'), 'trace.txt')!, 'utf8')
      .split('\n');
    const ts = (l: string) => Number(/\s(\d+\.\d+): /.exec(l)?.[1]);
    for (let i = 0; i + 1 < lines.length; i += 5)
      if (ts(lines[i]) < ts(lines[i + 1])) [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
    const shuffled = path.join(tmpDir(), 'trace.txt');
    fs.writeFileSync(shuffled, lines.join('\n'));
    const diff = await same(shuffled);
    expect(diff.maxBack).toBeGreaterThan(0);
  });
});
