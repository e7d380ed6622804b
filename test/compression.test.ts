// gzip, xz and zstd inputs are detected by magic bytes and read exactly like the plain text.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST, ingestTemp, tmpDir } from './helpers.js';

const plain = path.join(HOST, 'fork_cow/trace.txt');
const dir = tmpDir();

describe('compressed traces', () => {
  it.each([
    ['gzip', ['gzip', '-c']],
    ['xz', ['xz', '-c']],
    ['zstd', ['zstd', '-q', '-c']],
  ])('%s', async (name, cmd) => {
    // A misleading extension on purpose: detection goes by content.
    const file = path.join(dir, `fork_cow.${name}.txt`);
    fs.writeFileSync(file, execFileSync(cmd[0], [...cmd.slice(1), plain]));
    const { db, files } = await ingestTemp([plain, file]);
    expect(files[1].compression).toBe(name);
    expect(files[1].events).toBe(files[0].events);
    const diff = await db.rows(
      `SELECT line_no, ts_ns, cpu, tid, comm, event FROM events WHERE file_id = 0 EXCEPT SELECT line_no, ts_ns, cpu, tid, comm, event FROM events WHERE file_id = 1`,
    );
    expect(diff).toEqual([]);
    db.close();
  });
});
