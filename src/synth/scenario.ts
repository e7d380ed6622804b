// Scenarios: what the driver asks for and which CPU-side threads race it, at what rate.

/** A racer's rate: operations per second (a pause of mean 1/rate between them), or `lab`: back to
 *  back, as the lab's race program ran them while a request was in flight. 0 disables it. */
export type Rate = number | 'lab';

export type RacerKind =
  'dontneed' | 'uffd_wp' | 'mprotect' | 'fork_exit' | 'fork_write' | 'migrate' | 'pageout' | 'ksm';
export const RACER_KINDS: RacerKind[] = [
  'dontneed',
  'uffd_wp',
  'mprotect',
  'fork_exit',
  'fork_write',
  'migrate',
  'pageout',
  'ksm',
];

export interface Scenario {
  name: string;
  describe: string;
  /** Request sizes in pages, drawn uniformly (a size listed twice is drawn twice as often). */
  sizes: number[];
  /** Racer threads, one per entry. */
  racers: { kind: RacerKind; rate: Rate }[];
  /** Pages of the anonymous region the requests and racers share (race.c: 1024). */
  regionPages: number;
  /** `lab`: `perSize` requests of each size in the order listed (race.c); `random`: sizes drawn. */
  order: 'random' | 'lab';
  perSize: number;
}

const LAB_SIZES = [1, 4, 16, 64, 128, 256, 512];

export const SCENARIOS: Record<string, Scenario> = {
  dontneed: {
    name: 'dontneed',
    describe:
      'test_hmm requests of 1-512 pages against a thread doing MADV_DONTNEED of 1-4 pages and refaulting them (race.c mode dontneed)',
    sizes: LAB_SIZES,
    racers: [{ kind: 'dontneed', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 30,
  },
  uffd_wp: {
    name: 'uffd_wp',
    describe:
      'test_hmm requests of 1-256 pages against a thread write-protecting 1-4 pages with UFFDIO_WRITEPROTECT and unprotecting them (race.c mode uffd_wp)',
    sizes: [1, 16, 64, 256],
    racers: [{ kind: 'uffd_wp', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 20,
  },
  mprotect: {
    name: 'mprotect',
    describe:
      'test_hmm requests of 1-512 pages against a thread making 1-64 pages read-only with mprotect and writable again (race.c mode mprotect)',
    sizes: LAB_SIZES,
    racers: [{ kind: 'mprotect', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 30,
  },
  fork_exit: {
    name: 'fork_exit',
    describe:
      'test_hmm requests of 1-512 pages against a thread forking a child that exits at once (race.c mode fork_exit)',
    sizes: LAB_SIZES,
    racers: [{ kind: 'fork_exit', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 30,
  },
  fork_write: {
    name: 'fork_write',
    describe:
      'test_hmm requests of 1-512 pages against a thread forking a child that writes 1-8 pages, then exits (race.c mode fork_write)',
    sizes: LAB_SIZES,
    racers: [{ kind: 'fork_write', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 30,
  },
  migrate: {
    name: 'migrate',
    describe:
      "test_hmm requests of 1-256 pages against a thread moving up to 4 of the request's present pages to the other node with move_pages (race.c mode migrate)",
    sizes: [1, 16, 64, 256],
    racers: [{ kind: 'migrate', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 20,
  },
  pageout: {
    name: 'pageout',
    describe:
      'test_hmm requests of 1-256 pages against a thread reclaiming 1-4 pages to swap with MADV_PAGEOUT (race.c mode pageout)',
    sizes: [1, 16, 64, 256],
    racers: [{ kind: 'pageout', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 20,
  },
  ksm: {
    name: 'ksm',
    describe:
      'test_hmm requests of 1-256 pages on a MADV_MERGEABLE region of identical pages that ksmd merges (race.c mode ksm)',
    sizes: [1, 16, 64, 256],
    racers: [{ kind: 'ksm', rate: 'lab' }],
    regionPages: 1024,
    order: 'random',
    perSize: 20,
  },
  none: {
    name: 'none',
    describe: 'test_hmm requests of 1-512 pages and no racer (race.c mode none)',
    sizes: LAB_SIZES,
    racers: [],
    regionPages: 1024,
    order: 'random',
    perSize: 30,
  },
};

/** `64,256` or `64x3,256` (a size drawn three times as often). */
export function parseSizes(s: string): number[] {
  const out: number[] = [];
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(part);
    if (!m || +m[1] < 1 || +m[1] > 1024)
      throw new Error(`bad size '${part}': pages 1-1024, optionally xWEIGHT`);
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(+m[1]);
  }
  if (!out.length) throw new Error('no sizes');
  return out;
}

/** `dontneed=200` (ops/s), `dontneed=lab`, `dontneed=0` (off); `dontneed=200x2` runs two such threads. */
export function parseRates(specs: string[], base: Scenario['racers']): Scenario['racers'] {
  let racers = [...base];
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const m = /^(\w+)=(lab|\d+(?:\.\d+)?)(?:x(\d+))?$/.exec(spec.trim());
    if (!m || !RACER_KINDS.includes(m[1] as RacerKind))
      throw new Error(
        `bad rate '${spec}': KIND=OPS_PER_SECOND|lab[xTHREADS], KIND one of ${RACER_KINDS.join(', ')}`,
      );
    const kind = m[1] as RacerKind;
    const rate: Rate = m[2] === 'lab' ? 'lab' : Number(m[2]);
    racers = racers.filter((r) => r.kind !== kind);
    if (rate !== 0) for (let i = 0; i < Number(m[3] ?? 1); i++) racers.push({ kind, rate });
  }
  checkRacers(racers);
  return racers;
}

/** Racers the generator's kernel follows beside any other, and those it follows beside these only. */
const OLD: RacerKind[] = ['dontneed', 'uffd_wp', 'mprotect'];
const NEW: RacerKind[] = ['fork_exit', 'fork_write', 'migrate', 'pageout', 'ksm'];

/**
 * Combinations the generator's kernel does not follow: one mprotect racer at most (its VMA splits
 * assume the region is whole when it protects), and none beside a uffd_wp racer (a restored
 * mprotect would have to keep uffd-wp pages read-only); one ksmd and one forking thread at most;
 * a fork, migration, reclaim or KSM racer beside DONTNEED racers (and its own kind) only: the
 * others' entries (uffd-wp bits, split VMAs, swap and migration entries in a fork's copy, folios
 * locked when fork restores an entry) are not simulated together.
 */
export function checkRacers(racers: Scenario['racers']): void {
  const n = (k: RacerKind) => racers.filter((r) => r.kind === k).length;
  if (n('mprotect') > 1) throw new Error('one mprotect racer at most');
  if (n('mprotect') && n('uffd_wp'))
    throw new Error('mprotect and uffd_wp racers together are not simulated');
  if (n('ksm') > 1) throw new Error('one ksm racer (ksmd) at most');
  if (n('fork_exit') + n('fork_write') > 1) throw new Error('one fork racer at most');
  const kinds = new Set(racers.map((r) => r.kind));
  const nw = [...kinds].filter((k) => NEW.includes(k));
  if (nw.length > 1 || (nw.length && [...kinds].some((k) => OLD.includes(k) && k !== 'dontneed')))
    throw new Error(
      `${[...kinds].join(' and ')} racers together are not simulated: a ${NEW.join(', ')} racer runs alone or beside dontneed racers`,
    );
}
