// Database outputs written atomically: each command builds its database beside the target, under a
// temporary name in the same directory, and renames it into place only when it succeeded. A run
// that fails, or is killed at any point, leaves the previous file byte-identical.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';

export interface AtomicOptions {
  /** Start from a copy of the target (when it exists) instead of an empty file. */
  copy: boolean;
}

/**
 * Runs `build` on a temporary database beside `target` (a copy of it with `copy`), then renames the
 * result over `target`. On an error the temporary files are removed and the target is untouched.
 * `:memory:` is built in place.
 */
export async function writeAtomically<T>(
  target: string,
  opts: AtomicOptions,
  build: (file: string) => Promise<T>,
): Promise<T> {
  if (target === ':memory:') return build(target);
  const dir = path.dirname(path.resolve(target));
  if (!fs.existsSync(dir))
    throw new UsageError(
      `${target}: directory ${dir} does not exist (mmreplay creates files, not directories)`,
    );
  if (fs.existsSync(target) && fs.statSync(target).isDirectory())
    throw new UsageError(`${target}: is a directory, expected a database file`);
  removeStale(dir, path.basename(target));
  const tmp = path.join(
    dir,
    `.${path.basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`,
  );
  const remove = () => {
    for (const f of [tmp, `${tmp}.wal`]) fs.rmSync(f, { force: true });
  };
  try {
    if (opts.copy && fs.existsSync(target)) {
      fs.copyFileSync(target, tmp);
      // A WAL left by an earlier run that did not close cleanly is part of the database.
      if (fs.existsSync(`${target}.wal`)) fs.copyFileSync(`${target}.wal`, `${tmp}.wal`);
    }
    const result = await build(tmp);
    // DuckDB checkpoints on close: what it wrote is all in tmp, and a WAL left beside the target
    // (already copied into tmp) must not be applied to the new file.
    if (fs.existsSync(`${tmp}.wal`))
      throw new Error(`${tmp}.wal: left after the database was closed`);
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.rmSync(`${target}.wal`, { force: true });
    fs.renameSync(tmp, target);
    return result;
  } catch (e) {
    remove();
    throw e;
  }
}

/** Temporary files of runs that were killed (their process is gone). */
function removeStale(dir: string, base: string): void {
  const prefix = `.${base}.`;
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(prefix)) continue;
    const m = /^\.(.+)\.(\d+)\.[a-z0-9]+\.tmp(\.wal)?$/.exec(f);
    if (!m || m[1] !== base || alive(Number(m[2]))) continue;
    fs.rmSync(path.join(dir, f), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
