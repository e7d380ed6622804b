// Every .dat under traces/ ingests to the events, lost-events rows and typed values that
// `trace-cmd report -t` prints for it, parsed by the text reader (bench/dat-agreement-core.ts;
// bench/dat-agreement.ts prints the same comparison as a table). What the report prints that text
// cannot read back is counted apart, and may only be what trace-cmd is known to print so: a
// kprobe argument as a symbol (`%ps`) or an array of zeros (libtraceevent), and tlb_flush's
// reason through trace-cmd's tlb plugin, whose names are its own ("local mm shootdown" where the
// kernel's format says "local MM shootdown", nothing for "remote ipi send"). Needs trace-cmd.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { datAgreement, datFiles } from '../bench/dat-agreement-core.js';
import { ROOT, tmpDir, traceCmd } from './helpers.js';

const PLUGIN = 'tlb_tlb_flush.reason_name';
const dir = tmpDir();

describe.skipIf(!traceCmd)('.dat = trace-cmd report -t', () => {
  const files = datFiles(path.join(ROOT, 'traces'));
  it('covers every bundled .dat', () => expect(files.length).toBeGreaterThanOrEqual(54));
  for (const f of files) {
    it(
      path.relative(ROOT, f),
      async () => {
        const a = await datAgreement(f, dir);
        expect(a.events).toBeGreaterThan(0);
        expect(a).toMatchObject({ reportEvents: a.events, eventsDiffering: 0, lostDiffering: 0 });
        expect(Object.keys(a.differing).filter((k) => k !== PLUGIN)).toEqual([]);
        const kprobe = (k: string) => a.kprobeTables.includes(k.slice(0, k.lastIndexOf('.')));
        expect(Object.keys(a.unprinted).filter((k) => k !== PLUGIN && !kprobe(k))).toEqual([]);
      },
      600_000,
    );
  }
});
