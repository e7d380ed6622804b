// Shared CLI plumbing: error exit, table printing, progress.
import cliProgress from 'cli-progress';
import { MmreplayError, UsageError } from '../src/errors.js';

/** --debug (or MMREPLAY_DEBUG=1): stacks on errors. */
export const debug = () => process.argv.includes('--debug') || process.env.MMREPLAY_DEBUG === '1';

/**
 * Prints an error and exits: 1 for unusable input, 2 for bad usage (the error's own code), 3 for
 * anything else, an internal error: one line and where to report it, the stack only with --debug.
 */
export function fail(err: unknown): never {
  const e = err as Error;
  if (e instanceof MmreplayError) {
    process.stderr.write(`mmreplay: ${debug() && e.stack ? e.stack : e.message}\n`);
    process.exit(e.exitCode);
  }
  const first = String(e?.message ?? err).split('\n')[0];
  process.stderr.write(
    debug() && e?.stack
      ? `mmreplay: internal error: ${e.stack}\n`
      : `mmreplay: internal error: ${first}\nThis is a bug in mmreplay: please report it as an issue, with the command line and the output of the same command with --debug.\n`,
  );
  process.exit(3);
}

/** Output cut short by its reader (`| head`): stop quietly, as cat does. */
export function quietOnEpipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
}

/** Refuses --from after --to: nothing could be kept. */
export function checkSpan(fromNs: bigint | undefined, toNs: bigint | undefined, from?: string, to?: string): void {
  if (fromNs !== undefined && toNs !== undefined && fromNs > toNs) throw new UsageError(`--from ${from} is after --to ${to}: no event could be kept`);
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
  const width = cols.map((c, i) => cells.reduce((w, r) => Math.max(w, r[i].length), c.length));
  const numeric = cols.map((_c, i) => cells.every((r) => /^-?\d+(\.\d+)?$|^NULL$/.test(r[i])));
  const line = (vals: string[]) => vals.map((v, i) => (numeric[i] ? v.padStart(width[i]) : v.padEnd(width[i]))).join('  ').trimEnd();
  return [line(cols), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}
