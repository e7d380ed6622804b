import path from 'node:path';

/** `traces/x/trace.txt.xz` -> `traces/x/trace.duckdb`: the database beside the trace. */
export function defaultDbFor(trace: string): string {
  const base = path.basename(trace).replace(/(\.(gz|xz|zst|zstd))?$/, '').replace(/\.(txt|trace|log|dat)$/, '');
  return path.join(path.dirname(trace), `${base}.duckdb`);
}
