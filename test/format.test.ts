// Print-fmt compilation against real format files (the built-in 6.18 catalogue) and the exact
// lines this machine's kernel printed (facts.md; traces/host).
import { describe, expect, it } from 'vitest';
import { Catalogue } from '../src/parse/catalogue.js';
import { FieldTyper, kprobeTextSpec } from '../src/parse/fields.js';
import { parseInt64 } from '../src/parse/format.js';

const typer = new FieldTyper(new Catalogue());

function fields(event: string, body: string): Record<string, unknown> {
  const spec = typer.spec(event);
  if (!spec) throw new Error(`no spec for ${event}`);
  const vals = spec.extract(body);
  if (typeof vals === 'string') throw new Error(vals);
  return Object.fromEntries(spec.columns.map((c, i) => [c.name, vals[i]]));
}

describe('print fmt typing', () => {
  it('reads tracefs syscall shapes, hex with or without 0x', () => {
    expect(
      fields(
        'syscalls:sys_enter_mmap',
        '(addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)',
      ),
    ).toEqual({
      addr: 0n,
      len: 0x2000n,
      prot: 3n,
      flags: 0x22n,
      fd: 0xffffffffn,
      off: 0n,
    });
    // 6.1/6.12 print hex without 0x: "10" is sixteen.
    expect(
      fields(
        'syscalls:sys_enter_mmap',
        '(addr: 0, len: 10, prot: 3, flags: 22, fd: ffffffff, off: 0)',
      ).len,
    ).toBe(16n);
    expect(fields('syscalls:sys_exit_mmap', '0x7f6b97f78000').ret).toBe(0x7f6b97f78000n);
    expect(fields('syscalls:sys_exit_clone', '0xfffffffffffffff4').ret).toBe(-12n);
  });

  it('reads libtraceevent syscall shapes (trace-cmd, perf)', () => {
    expect(
      fields(
        'syscalls:sys_enter_mmap',
        'addr: 0x00000000, len: 0x00020000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000',
      ).len,
    ).toBe(0x20000n);
  });

  it('keeps the kernel symbol a %ps pointer prints instead of an address', () => {
    // page_fault_kernel on this machine (traces/host/recorded/fork_cow): ip is a symbol, address a number.
    expect(
      fields(
        'exceptions:page_fault_kernel',
        'address=0x7fce68b7e9d0 ip=__put_user_4 error_code=0x3',
      ),
    ).toEqual({
      address: 0x7fce68b7e9d0n,
      address_sym: null,
      ip: null,
      ip_sym: '__put_user_4',
      error_code: 3n,
    });
    expect(
      fields(
        'exceptions:page_fault_user',
        'address=0x7f5e1a2b3000 ip=0x7f5e1a000123 error_code=0x6',
      ),
    ).toMatchObject({ ip: 0x7f5e1a000123n, ip_sym: null });
  });

  it('maps symbolic fields back to numbers and keeps the name', () => {
    expect(
      fields('kmem:rss_stat', 'mm_id=1730462672 curr=1 type=MM_ANONPAGES size=16384B'),
    ).toEqual({
      mm_id: 1730462672,
      curr: 1,
      member: 1,
      member_name: 'MM_ANONPAGES',
      size: 16384n,
    });
    const t = fields('tlb:tlb_flush', 'pages:-1 reason:flush on task switch (0)');
    expect(t).toMatchObject({ pages: -1n, reason: 0, reason_name: 'flush on task switch' });
    // trace-cmd prints the same event as name=value
    expect(fields('tlb:tlb_flush', 'pages=-1 reason=flush on task switch (0)').pages).toBe(-1n);
  });

  it('rebuilds flag bits from ternary letters, padded or trimmed', () => {
    expect(
      fields('pagemap:mm_lru_insertion', 'folio=00000000f997258b pfn=0x1bb08a lru=0 flags=Ma bd '),
    ).toMatchObject({ pfn: 0x1bb08an, lru: 0, flags: 0x33n });
    expect(
      fields('pagemap:mm_lru_insertion', 'folio=0xffffea0006ec2280 pfn=0x1bb08a lru=0 flags=Ma bd')
        .folio,
    ).toBe(0xffffea0006ec2280n);
  });

  it('reads hex without 0x where the format says %llx (task_newtask clone_flags)', () => {
    expect(
      fields('task:task_newtask', 'pid=20611 comm=mmwork clone_flags=1200000 oom_score_adj=0'),
    ).toMatchObject({ pid: 20611, comm: 'mmwork', clone_flags: 0x1200000n, oom_score_adj: 0 });
  });

  it('keeps hashed %p pointers as numbers and real pfns', () => {
    const f = fields(
      'kmem:mm_page_alloc',
      'page=00000000d0195ef5 pfn=0x100788 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO',
    );
    expect(f).toMatchObject({
      pfn: 0x100788n,
      order: 0,
      migratetype: 1,
      gfp_flags: 'GFP_HIGHUSER_MOVABLE|__GFP_ZERO',
    });
  });

  it('rejects text that does not fit the print fmt', () => {
    const spec = typer.spec('kmem:rss_stat')!;
    expect(spec.extract('mm_id=abc curr=1')).toMatch(/do not match print fmt/);
  });

  it("extractRow gives extract's values, 64-bit ones below 2^53 and kernel addresses as Numbers", () => {
    const bodies: [string, string][] = [
      ['exceptions:page_fault_user', 'address=0x7f5e1a2b3000 ip=0x7f5e1a000123 error_code=0x6'],
      ['exceptions:page_fault_kernel', 'address=0x7fce68b7e9d0 ip=__put_user_4 error_code=0x3'],
      ['kmem:rss_stat', 'mm_id=1730462672 curr=1 type=MM_ANONPAGES size=16384B'],
      ['kmem:rss_stat', 'mm_id=1730462672 curr=1 type=MM_SWAPENTS size=-4096B'],
      ['tlb:tlb_flush', 'pages:-1 reason:flush on task switch (0)'],
      ['pagemap:mm_lru_insertion', 'folio=00000000f997258b pfn=0x1bb08a lru=0 flags=Ma bd '],
      ['pagemap:mm_lru_insertion', 'folio=0xffffea0006ec2280 pfn=0x1bb08a lru=0 flags=Ma bd'],
      ['pagemap:mm_lru_insertion', 'folio=0xffffea0006ec2280 pfn=0x1bb08a lru=2 flags=Mfs dB'],
      [
        'kmem:mm_page_alloc',
        'page=00000000d0195ef5 pfn=0x100788 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO',
      ],
      ['kmem:mm_page_free', 'page=(null) pfn=0x100788 order=0'],
      [
        'mmap_lock:mmap_lock_acquire_returned',
        'mm=000000007b364140 memcg_id=3299 write=true success=false',
      ],
      ['task:task_newtask', 'pid=20611 comm=mmwork clone_flags=1200000 oom_score_adj=0'],
      ['syscalls:sys_exit_clone', '0xfffffffffffffff4'],
    ];
    for (const [event, body] of bodies) {
      const spec = typer.spec(event)!;
      const want = spec.extract(body);
      const got = spec.extractRow(body);
      if (typeof want === 'string') throw new Error(want);
      expect(typeof got).not.toBe('string');
      const norm = (got as unknown[]).map((v, i) => {
        const t = spec.columns[i].type;
        if (typeof v !== 'number' || (t !== 'BIGINT' && t !== 'UBIGINT')) return v;
        expect(Number.isSafeInteger(v)).toBe(true);
        // A kernel address comes as the negative Number of its 64 bits.
        return t === 'UBIGINT' ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
      });
      expect({ event, body, v: norm }).toEqual({ event, body, v: want });
    }
  });

  it("a kprobe table's extractRow gives extract's values", () => {
    const cases: [string, string, Record<string, string>][] = [
      [
        '(folio_unlock+0x4/0x17) folio=0xffd4000000008540 flags=0x2003d',
        'folio=0xffd4000000000040 flags=7',
        {},
      ],
      [
        '(do_wp_page+0x0/0x674) vma=0xff110000020b0960 orig_pte=0x8000000000211025',
        'orig_pte=0x1 vma=0xffffffffffffffff',
        {},
      ],
      [
        '(caller+0x4c/0x90 <- func) ret=-12 name="a b"',
        '(c <- f) ret=0xfffffffffffffff4 name="x" ret=7',
        { ret: 's64' },
      ],
      ['(f+0x0/0x10) a=-1 b=12345678901234567890', '(f+0x0/0x10) b=zz', { a: 'u64' }],
    ];
    // A control character inside hex digits (fuzz-found: 0x10 | 0x20 reads as "0").
    cases.push([
      '(f+0x0/0x10) a=0x1 b=0x2',
      '(f+0x0/0x10) a=0x5ff5\u0010abefe b=ffff\u00108881\u00110000000',
      { a: 'x64', b: 'x64' },
    ]);
    for (const [first, other, types] of cases) {
      const spec = kprobeTextSpec('kprobes:t', first, new Map(Object.entries(types)))!;
      for (const body of [first, other]) {
        const want = spec.extract(body);
        const got = spec.extractRow(body);
        const norm =
          typeof got === 'string'
            ? got
            : got.map((v, i) => {
                const t = spec.columns[i].type;
                if (typeof v !== 'number') return v;
                return t === 'UBIGINT' ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
              });
        expect({ body, v: norm }).toEqual({ body, v: want });
      }
    }
  });

  it('parses exact 64-bit integers', () => {
    expect(parseInt64('0xffffffffffffffff', 16)).toBe(0xffffffffffffffffn);
    expect(parseInt64('-1', 10)).toBe(-1n);
    expect(parseInt64('12z', 10)).toBeNull();
  });
});
