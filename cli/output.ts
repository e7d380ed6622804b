// Shared CLI plumbing: error exit, table printing, progress.
import cliProgress from 'cli-progress';
import { TraceInputError } from '../src/parse/errors.js';

/** Prints an error without a stack for input problems, and exits 1. */
export function fail(err: unknown): never {
  const e = err as Error;
  const msg = e instanceof TraceInputError || !e?.stack || process.env.MMREPLAY_DEBUG !== '1' ? e?.message ?? String(err) : e.stack;
  process.stderr.write(`mmreplay: ${msg}\n`);
  process.exit(1);
}

export function warn(msg: string): void {
  process.stderr.write(`mmreplay: warning: ${msg}\n`);
}

/** A progress bar on a terminal (bytes and events per second); silent otherwise. */
export function progress(): { update(p: { file: string; bytesRead: number; bytes: number; events: number }): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: '{file} [{bar}] {percentage}% | {mb}/{totalmb} MB | {mbps} MB/s | {events} events ({evps}/s)',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  let started = false;
  return {
    update(p) {
      const s = Math.max((Date.now() - t0) / 1000, 1e-3);
      const payload = {
        file: p.file.length > 30 ? '…' + p.file.slice(-29) : p.file,
        mb: (p.bytesRead / 1e6).toFixed(1),
        totalmb: (p.bytes / 1e6).toFixed(1),
        mbps: (p.bytesRead / 1e6 / s).toFixed(1),
        events: p.events,
        evps: Math.round(p.events / s),
      };
      if (!started) {
        bar.start(p.bytes, p.bytesRead, payload);
        started = true;
      } else bar.update(p.bytesRead, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Renders rows as an aligned text table. */
export function formatTable(rows: Record<string, unknown>[], columns?: string[]): string {
  if (!rows.length) return '(no rows)\n';
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown) => (v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) : String(v));
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const width = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const numeric = cols.map((_c, i) => cells.every((r) => /^-?\d+(\.\d+)?$|^NULL$/.test(r[i])));
  const line = (vals: string[]) => vals.map((v, i) => (numeric[i] ? v.padStart(width[i]) : v.padEnd(width[i]))).join('  ').trimEnd();
  return [line(cols), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}
