// Kprobe events bound by the function they probe and the parameter each arg fetches, whatever the
// recorder named them: definitions, symbol tables, and the lab's real traces with and without the
// files beside them.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Db } from '../src/store/db.js';
import { parseKprobeBody } from '../src/parse/fields.js';
import { Kallsyms } from '../src/parse/binary/kallsyms.js';
import { parseProbeDefinitions } from '../src/parse/probes.js';
import { fetchPath } from '../src/replay/probes.js';
import { replay } from '../src/replay/replay.js';
import { ingestTemp, ROOT, tmpDir } from './helpers.js';

const LAB = path.join(ROOT, 'traces/lab/6.12');

describe('probe definitions', () => {
  it('reads the kernel read-back of kprobe_events (the lab 6.12 set), perf-probe style and fprobe lines, and perf probe -l', () => {
    const lab = parseProbeDefinitions(
      fs.readFileSync(path.join(LAB, 'kprobe_events'), 'utf8'),
      'kprobe_events',
    );
    const ret = lab.find((d) => d.event === 'kprobes:mder_make_device_exclusive_range_ret')!;
    expect(ret).toMatchObject({ kind: 'return', func: 'make_device_exclusive_range' });
    expect(ret.args).toContainEqual({ name: 'pages', fetch: '+0($arg4)', type: 'x64[64]' });
    const [perf, fp, addr] = parseProbeDefinitions(
      [
        'p:probe/do_wp_page do_wp_page+0 address=+24(%di):u64 flags=+40(%di):u32',
        'f:fprobes/mder_exit make_device_exclusive_range%return ret=$retval',
        'p:probe/gup _text+1234567 start=%si:u64',
      ].join('\n'),
      'x',
    );
    expect(perf).toMatchObject({
      event: 'probe:do_wp_page',
      kind: 'entry',
      func: 'do_wp_page',
      args: [
        { name: 'address', fetch: '+24(%di)', type: 'u64' },
        { name: 'flags', fetch: '+40(%di)', type: 'u32' },
      ],
    });
    expect(fp).toMatchObject({
      event: 'fprobes:mder_exit',
      kind: 'return',
      func: 'make_device_exclusive_range',
    });
    // An address relative to _text names no function without the symbol table.
    expect(addr).toMatchObject({ event: 'probe:gup', func: null });
    const [list] = parseProbeDefinitions(
      '  probe:make_device_exclusive_range (on make_device_exclusive_range@mm/rmap.c with mm start end pages)',
      'perf',
    );
    expect(list).toMatchObject({
      event: 'probe:make_device_exclusive_range',
      func: 'make_device_exclusive_range',
      args: [{ name: 'mm' }, { name: 'start' }, { name: 'end' }, { name: 'pages' }],
    });
  });

  it('maps $argN, x86-64 registers, struct members by offset and BTF names to the parameter they read', () => {
    const mder = { params: ['mm', 'start', 'end', 'pages', 'owner'] };
    const vmf = { params: ['vmf'], structs: { vmf: 'vm_fault' } };
    const notifier = { params: ['range'], structs: { range: 'mmu_notifier_range' } };
    expect(fetchPath('$arg2', mder, '6.12')).toBe('start');
    expect(fetchPath('%dx', mder, '6.12')).toBe('end');
    expect(fetchPath('%rsi', mder, '6.12')).toBe('start');
    expect(fetchPath('%r8', mder, '6.12')).toBe('owner');
    expect(fetchPath('+0($arg4)', mder, '6.12')).toBe('*pages');
    expect(fetchPath('$retval', mder, '6.12')).toBe('$retval');
    expect(fetchPath('+24(%di)', vmf, '6.12')).toBe('vmf->address');
    expect(fetchPath('+40($arg1)', vmf, '6.12')).toBe('vmf->flags');
    expect(fetchPath('vmf->address', vmf, '6.12')).toBe('vmf->address');
    expect(fetchPath('+8(%di)', vmf, '6.12')).toBeNull();
    // mmu_notifier_range lost its leading vma in 6.3 (the lab's offsets.txt shows both layouts).
    expect(fetchPath('+8($arg1)', notifier, '6.12')).toBe('range->start');
    expect(fetchPath('+16($arg1)', notifier, '6.1')).toBe('range->start');
  });

  it('names a printed address through kallsyms, and reads both orders of a return probe head', () => {
    const k = Kallsyms.parse(
      'ffffffff81143f38 T make_device_exclusive_range\nffffffff81144300 t folio_walk\n0000000000000000 T hidden\n',
    );
    expect(k.symbol(0xffffffff81143f38n)).toEqual({
      name: 'make_device_exclusive_range',
      offset: 0,
    });
    expect(k.symbol(0xffffffff81143f3cn)).toEqual({
      name: 'make_device_exclusive_range',
      offset: 4,
    });
    expect(k.symbol(0xffffffff81000000n)).toBeNull();
    // Lines of traces/lab/6.12/race-dontneed: tracefs prints (caller <- func), trace-cmd report (func <- ret_ip).
    expect(
      parseKprobeBody(
        '(dmirror_exclusive.constprop.0+0xcc/0x2b2 <- make_device_exclusive_range) ret=1 start=0x7fda54216000',
      ),
    ).toMatchObject({
      func: 'make_device_exclusive_range',
      caller: 'dmirror_exclusive.constprop.0',
    });
    expect(
      parseKprobeBody('(ffffffff81143f38 <- ffffffff811f6376) ret=1 start=0x7fda54216000'),
    ).toMatchObject({ func: 'ffffffff81143f38', caller: 'ffffffff811f6376' });
  });
});

/** A lab trace copied alone into a fresh directory: no format files, no kprobe_events, no uname. */
function bare(name: string, file: string): string {
  const dir = tmpDir();
  const to = path.join(dir, file);
  fs.copyFileSync(path.join(LAB, name, file), to);
  return to;
}

async function replayedRows(
  trace: string,
  opts: { kallsyms?: string; probes?: string[] } = {},
): Promise<{ requests: unknown[]; probes: unknown[]; files: string }> {
  const { db, dbFile } = await ingestTemp([trace], opts);
  db.close();
  await replay(dbFile);
  const d = await Db.open(dbFile);
  try {
    return {
      requests: await d.rows(
        `SELECT design, request_id, ts, dur, tid, start_va, npages, predicted_result, observed_result, calls, failed_pages, enoent_pages FROM exclusive_requests ORDER BY request_id`,
      ),
      probes: await d.rows(`SELECT event, kind, func FROM probes ORDER BY event`),
      files: dbFile,
    };
  } finally {
    d.close();
  }
}

describe('the same lab run, whatever came with it', () => {
  it(
    'race-dontneed: the tracefs text alone (kprobes typed from their text, formats of 6.12 found by fit, kernel from the probed functions) gives the same requests as with its format files and definitions',
    { timeout: 300_000 },
    async () => {
      const full = await replayedRows(path.join(LAB, 'race-dontneed/trace.txt.xz'));
      const alone = await replayedRows(bare('race-dontneed', 'trace.txt.xz'));
      expect(full.requests.length).toBe(210);
      expect(alone.requests).toEqual(full.requests);
      expect(alone.probes).toEqual(full.probes);
      const db = await Db.open(alone.files);
      // sched_process_exit and mmap_lock print differently in 6.12 than in the default 6.18 catalogue.
      expect(await db.rows(`SELECT count(*)::INTEGER n FROM field_errors`)).toEqual([{ n: 0 }]);
      expect(await db.rows(`SELECT kernel FROM replay_runs`)).toEqual([{ kernel: '6.12' }]);
      db.close();
    },
  );

  it(
    "race-dontneed without syscall events (a kernel without FTRACE_SYSCALLS): requests end at RACE_END or where calls stop chaining, and the racer's zaps come from unmap_page_range, with the same verdicts",
    { timeout: 300_000 },
    async () => {
      const { db, dbFile } = await ingestTemp([path.join(LAB, 'race-dontneed/trace.txt.xz')]);
      // The recording's syscall events are taken out of the stored events: what such a kernel records.
      await db.run(
        `DELETE FROM _events WHERE event_id IN (SELECT event_id FROM _event_names WHERE event LIKE 'syscalls:%')`,
      );
      db.close();
      await replay(dbFile);
      const withSyscalls = await replayedRows(path.join(LAB, 'race-dontneed/trace.txt.xz'));
      const d = await Db.open(dbFile);
      const rows = await d.rows<{
        request_id: number;
        start_va: bigint;
        npages: number;
        predicted_result: number;
        calls: number;
      }>(
        `SELECT request_id, start_va, npages, predicted_result, calls FROM exclusive_requests ORDER BY request_id`,
      );
      d.close();
      const expected = (withSyscalls.requests as typeof rows).map(
        ({ request_id, start_va, npages, predicted_result, calls }) => ({
          request_id,
          start_va,
          npages,
          predicted_result,
          calls,
        }),
      );
      expect(rows).toEqual(expected);
      expect(rows.filter((r) => r.predicted_result !== 0).length).toBeGreaterThan(80);
    },
  );

  it(
    'race-none: trace-cmd report, which prints kprobes as addresses, binds through the kprobe_events beside it, or the kallsyms given for it',
    { timeout: 300_000 },
    async () => {
      const text = await replayedRows(path.join(LAB, 'race-none/trace.txt.xz'));
      const report = await replayedRows(path.join(LAB, 'race-none/report.txt.xz'));
      expect(report.requests).toEqual(text.requests);
      expect(report.probes).toEqual(text.probes);
      // Without the definitions, a symbol table names the functions at the printed addresses: here
      // one made from the two prints of the same probes (tracefs names them, report gives addresses).
      const alone = bare('race-none', 'report.txt.xz');
      const ks = path.join(path.dirname(alone), 'System.map.test');
      const db = await Db.open(report.files);
      const heads = await db.rows<{ printed: string; func: string }>(
        `SELECT printed, func FROM probes WHERE kind = 'entry'`,
      );
      db.close();
      fs.writeFileSync(
        ks,
        heads.map((h) => `${/[0-9a-f]{16}/.exec(h.printed)![0]} T ${h.func}`).join('\n'),
      );
      const viaKallsyms = await replayedRows(alone, { kallsyms: ks });
      expect(viaKallsyms.requests).toEqual(text.requests);
    },
  );

  it(
    "race-dontneed: trace-cmd report alone (addresses only, no definitions, no kallsyms) binds the calls and GUP by the shape of their args and the walks by their event names (`mder_rmap_walk`): the kernel's result for every request",
    { timeout: 300_000 },
    async () => {
      const { files } = await replayedRows(bare('race-dontneed', 'report.txt.xz'));
      const db = await Db.open(files);
      const bound = await db.rows<{ walk_timing: string }>(
        `SELECT DISTINCT walk_timing FROM exclusive_calls`,
      );
      expect(bound).toEqual([{ walk_timing: 'rmap_walk' }]);
      const [a] = await db.rows<{ n: number; agree: number }>(
        `SELECT count(*)::INTEGER n, count(*) FILTER (predicted_result = observed_result)::INTEGER agree FROM exclusive_requests`,
      );
      db.close();
      expect(a.n).toBe(210);
      // 205 when the walks, unnamed, were interpolated.
      expect(a.agree).toBe(210);
    },
  );
});
