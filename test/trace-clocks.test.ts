// Trace clocks that count no ns (x86-tsc, counter, uptime): tracefs prints their times as a bare
// count; options/latency-format prints µs since the buffer's start, comms cut to 8 characters.
// One run recorded at once five ways (traces/host/clocks, capture-clocks.sh): each trace gives the
// events of the mono one, timed as it prints them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST, ingestTemp } from './helpers.js';

const DIR = path.join(HOST, 'clocks');
const trace = (clock: string) => path.join(DIR, `trace-${clock}.txt.xz`);

/** Events with their typed fields, in file order: what must not depend on the clock. */
const EVENTS = `SELECT e.event, e.cpu, e.tid, left(e.comm, 8) AS comm, a.pfn, a."order", f.address, r.size
  FROM events e LEFT JOIN kmem_mm_page_alloc a USING (id) LEFT JOIN exceptions_page_fault_user f USING (id)
  LEFT JOIN kmem_rss_stat r USING (id) ORDER BY e.id`;

describe('trace clocks that count no ns', async () => {
  const mono = await ingestTemp([trace('mono')]);
  const reference = await mono.db.rows(EVENTS);
  mono.db.close();

  it('the mono trace is timed in ns, with no warning', () => {
    expect(reference.length).toBeGreaterThan(400);
    expect(mono.files[0].unparsed).toBe(0);
    expect(mono.files[0].metadata.timestamps).toBeUndefined();
    expect(mono.warnings.join()).not.toMatch(/counts/);
  });

  for (const [clock, time, unit] of [
    ['x86-tsc', /\] \S+ +(\d+): /, ''],
    ['counter', /\] \S+ +(\d+): /, ''],
    ['uptime', /\] \S+ +(\d+): /, ''],
    ['latency', / (\d+)us[ !#$*+@]: /, '000'],
  ] as const) {
    it(`${clock}: every line is an event, the same as mono's, at its printed time`, async () => {
      const { db, files, warnings } = await ingestTemp([trace(clock)]);
      try {
        expect(files[0].unparsed).toBe(0);
        expect(files[0].metadata.timestamps).toMatch(
          clock === 'latency' ? /latency/ : /clock counts/,
        );
        expect(warnings.join('\n')).toMatch(
          clock === 'latency' ? /latency-format text/ : /the trace clock's counts, not ns/,
        );
        // Tracing may be switched on in mono's instance first: the others miss its first lines.
        const rows = await db.rows(EVENTS);
        expect(rows.length).toBeGreaterThan(reference.length - 10);
        expect(rows).toEqual(reference.slice(reference.length - rows.length));
        // ts_ns holds each line's time as printed (both parse paths: first lines by pattern,
        // later ones from their bytes).
        const printed = execFileSync('xz', ['-dc', trace(clock)], { encoding: 'utf8' })
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => time.exec(l)![1] + unit);
        const ts = await db.rows<{ ts: string }>(
          'SELECT ts_ns::VARCHAR AS ts FROM events ORDER BY id',
        );
        expect(ts.map((r) => r.ts)).toEqual(printed);
      } finally {
        db.close();
      }
    });
  }
});
