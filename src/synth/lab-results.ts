// The lab's measured outcomes: the race program's own log (traces/lab/race.c writes one
// `RACE_CALL ... npages=N ret=R ...` line per request to stdout.log), per request size.
import fs from 'node:fs';

export interface SizeResult {
  npages: number;
  requests: number;
  /** ioctl returned non-zero (-EBUSY or -ENOENT). */
  failed: number;
}

/** Per-size request counts and failures from a race program's stdout.log. */
export function raceLog(file: string): SizeResult[] {
  const by = new Map<number, SizeResult>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^RACE_CALL .* npages=(\d+) ret=(-?\d+)/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    const r = by.get(n) ?? { npages: n, requests: 0, failed: 0 };
    r.requests++;
    if (Number(m[2]) !== 0) r.failed++;
    by.set(n, r);
  }
  return [...by.values()].sort((a, b) => a.npages - b.npages);
}

/** P(X <= k) for X ~ Binomial(n, p). */
function binomCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let term = Math.pow(1 - p, n);
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term *= ((n - i + 1) / i) * (p / (1 - p));
    sum += term;
  }
  return Math.min(1, sum);
}

/**
 * The exact (Clopper-Pearson) two-sided binomial confidence interval for k successes in n trials:
 * the p whose tail probabilities equal (1 - level) / 2, found by bisection.
 */
export function clopperPearson(k: number, n: number, level = 0.95): [number, number] {
  const a = (1 - level) / 2;
  const solve = (f: (p: number) => number) => {
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (f(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  // lower: P(X >= k | p) = a; upper: P(X <= k | p) = a.
  const lower = k === 0 ? 0 : solve((p) => a - (1 - binomCdf(k - 1, n, p)));
  const upper = k === n ? 1 : solve((p) => binomCdf(k, n, p) - a);
  return [lower, upper];
}
