// Lost events of every text format are counted, and empty or suspicious results say so in one line.
// Inputs are real captured lines (traces/host/anon) with the markers the tracers print.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../src/ingest/ingest.js';
import { replay } from '../src/replay/replay.js';
import { HOST, ingestTemp, ROOT, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const read = (f: string) =>
  fs
    .readFileSync(path.join(HOST, 'anon', f), 'utf8')
    .split('\n')
    .filter(Boolean);
const write = (name: string, lines: string[], end = '\n') => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, lines.join('\n') + end);
  return p;
};
const cli = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(path.join(ROOT, 'bin/mmreplay.js'), args, { cwd: ROOT }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });

describe('lost events', () => {
  it('counts trace-cmd report markers, with and without a count, in lost_events and files.lost', async () => {
    const report = read('report.txt');
    const p = write('dropped.txt', [
      ...report.slice(0, 3),
      'CPU:0 [361714 EVENTS DROPPED]',
      ...report.slice(3, 6),
      'CPU:1 [EVENTS DROPPED]',
      'CPU:1 [LOST 12 EVENTS]',
      ...report.slice(6),
    ]);
    const { db, files } = await ingestTemp([p]);
    expect(files[0]).toMatchObject({ format: 'trace-cmd', lost: 361714 + 12, unparsed: 0 });
    expect(await db.rows('SELECT line_no, cpu, count FROM lost_events ORDER BY line_no')).toEqual([
      { line_no: 4n, cpu: 0, count: 361714n },
      { line_no: 8n, cpu: 1, count: null },
      { line_no: 9n, cpu: 1, count: 12n },
    ]);
    db.close();
  });

  it('counts perf script --show-lost-events records', async () => {
    const perf = read('perf-script.txt');
    const p = write('perf-lost.txt', [
      ...perf.slice(0, 4),
      '            perf  1234 [001]   513.146500: PERF_RECORD_LOST lost 77',
      ...perf.slice(4),
    ]);
    const { db, files } = await ingestTemp([p]);
    expect(files[0]).toMatchObject({ format: 'perf', lost: 77, unparsed: 0 });
    expect(await db.rows('SELECT line_no, cpu, count FROM lost_events')).toEqual([
      { line_no: 5n, cpu: 1, count: 77n },
    ]);
    db.close();
  });
});

describe('empty or suspicious results say so', () => {
  const trace = path.join(HOST, 'anon/trace.txt');
  const db = path.join(dir, 'anon.duckdb');
  beforeAll(async () => {
    await ingest([trace], { db });
    await replay(db);
  }, 60_000);

  it('a truncated last line that became a field error is reported by ingest', async () => {
    const lines = read('trace_pipe.txt');
    const i = lines.map((l) => l.includes('page_fault_user:')).lastIndexOf(true);
    const p = write(
      'cut.txt',
      [...lines.slice(0, i), lines[i].slice(0, lines[i].indexOf('error_code=') + 13)],
      '',
    );
    const { db: d, warnings } = await ingestTemp([p]);
    expect(warnings.join('\n')).toMatch(
      new RegExp(
        `cut\\.txt: the last line has no newline \\(the trace was cut short\\?\\): line ${i + 1}, cut short, became a field error`,
      ),
    );
    d.close();
  });

  it('--from after --to is refused; filters that match nothing, state outside the trace and exclusive without requests say so', async () => {
    const [fromTo, pid, state, excl] = await Promise.all([
      cli(['ingest', trace, '--db', path.join(dir, 'x.duckdb'), '--from', '600', '--to', '500']),
      cli(['ingest', trace, '--db', path.join(dir, 'y.duckdb'), '--pid', '999999']),
      cli(['state', db, '--at', '9000', '--pid', '365']),
      cli(['exclusive', db]),
    ]);
    expect(fromTo).toMatchObject({
      code: 2,
      err: expect.stringMatching(
        /^mmreplay: --from 600 is after --to 500: no event could be kept\n/,
      ),
    });
    expect(pid.code).toBe(0);
    expect(pid.err).toMatch(/no event matched --pid 999999 \(336 events left out\)/);
    expect(state.err).toMatch(/--at 9000 is outside the replayed time span 513\.\d+ \.\. 513\.\d+/);
    expect(excl.code).toBe(0);
    expect(excl.out).toMatch(
      /^no device-exclusive requests in .*anon\.duckdb: the trace has no kprobe events; mmreplay probes --kernel 6.12 prints the probes to record/,
    );
  });
});
