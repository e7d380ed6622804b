// Bad input: every case gets a message naming file and line, and nothing is dropped silently.
// Inputs are built from real captured lines (traces/host/anon), never hand-made event text.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { HOST, ingestTemp, ROOT, tmpDir } from './helpers.js';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const real = fs.readFileSync(path.join(HOST, 'anon/trace_pipe.txt'), 'utf8').split('\n').filter(Boolean);
const write = (name: string, data: string | Buffer) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
};

describe('bad input', () => {
  it('refuses a file that is not a trace, naming it', async () => {
    const p = write('notes.txt', 'hello\nthis is not a trace\n');
    await expect(ingestTemp([p])).rejects.toThrow(/notes\.txt:1: not a trace this tool reads/);
  });

  it('refuses binary garbage with a byte offset', async () => {
    const p = write('garbage.bin', Buffer.from([0x41, 0x42, 0x00, 0xff, 0x13, 0x37]));
    await expect(ingestTemp([p])).rejects.toThrow(/garbage\.bin: byte 2: binary data/);
  });

  it('keeps a truncated last line as unparsed with its reason', async () => {
    const last = real[real.length - 1];
    const p = write('truncated.txt', real.slice(0, -1).join('\n') + '\n' + last.slice(0, 25));
    const { db, files } = await ingestTemp([p]);
    expect(files[0].events).toBe(real.length - 1);
    const rows = await db.rows<{ line_no: bigint; reason: string }>('SELECT line_no, reason FROM unparsed');
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].line_no)).toBe(real.length);
    expect(rows[0].reason).toMatch(/truncated last line/);
    db.close();
  });

  it('keeps unknown events generically, malformed fields as field errors, and garbage lines as unparsed', async () => {
    const fault = real.find((l) => l.includes('page_fault_user:'))!;
    const unknown = fault.replace('page_fault_user:', 'no_such_event:');
    const malformed = fault.replace(/error_code=0x\w+/, 'error_code=zzz');
    const p = write('mixed.txt', [real[0], unknown, malformed, 'garbage in the middle', real[1]].join('\n') + '\n');
    const { db, files, warnings } = await ingestTemp([p]);
    expect(files[0]).toMatchObject({ lines: 5, events: 4, unparsed: 1 });
    const other = await db.rows<{ event: string; fields: string }>(`SELECT event, fields FROM other_events ORDER BY id`);
    expect(other.map((o) => o.event)).toEqual(['unknown:no_such_event', 'exceptions:page_fault_user']);
    expect(JSON.parse(other[0].fields)).toHaveProperty('address');
    const fe = await db.rows<{ reason: string }>('SELECT reason FROM field_errors');
    expect(fe[0].reason).toMatch(/mixed\.txt:3: fields do not match print fmt "address=%ps ip=%ps error_code=0x%lx"/);
    const un = await db.rows<{ line_no: bigint; text: string }>('SELECT line_no, text FROM unparsed');
    expect(un).toEqual([{ line_no: 4n, text: 'garbage in the middle' }]);
    expect(warnings.join()).toMatch(/no_such_event/);
    db.close();
  });

  it('reports timestamps that go backwards and keeps every event', async () => {
    const p = write('backwards.txt', [real[5], real[4], real[6]].join('\n') + '\n');
    const { db, files, warnings } = await ingestTemp([p]);
    expect(files[0].events).toBe(3);
    expect(warnings.join()).toMatch(/backwards\.txt: 1 timestamps go backwards \(first at line 2\)/);
    db.close();
  });

  it('carries lost-event markers into lost_events', async () => {
    const p = write('lost.txt', [real[0], 'CPU:1 [LOST 1436 EVENTS]', real[1]].join('\n') + '\n');
    const { db, files } = await ingestTemp([p]);
    expect(files[0].lost).toBe(1436);
    expect(await db.rows('SELECT file_id, line_no, cpu, count FROM lost_events')).toEqual([{ file_id: 0, line_no: 2n, cpu: 1, count: 1436n }]);
    db.close();
  });

  it('the CLI exits 1 with the message on unusable input and 2 on bad usage', () => {
    const bin = path.join(ROOT, 'bin/mmreplay.js');
    const run = (args: string[]) => {
      try {
        execFileSync(bin, args, { stdio: 'pipe' });
        return { code: 0, err: '' };
      } catch (e) {
        const x = e as { status: number; stderr: Buffer };
        return { code: x.status, err: x.stderr.toString() };
      }
    };
    const p = write('nope.txt', 'not a trace\n');
    const r = run(['ingest', p, '--db', path.join(dir, 'x.duckdb')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nope\.txt:1: not a trace/);
    expect(run(['ingest']).code).toBe(2);
  });
});
