// A trace's copy of /proc/kallsyms: kernel addresses to symbols, the way the kernel's `%pS`/`%ps`
// print them (kernel/kallsyms.c: the symbol at or below the address, its size up to the next
// symbol's address; of aliases at one address, the first listed).

export interface KernelSymbol {
  addr: bigint;
  type: string;
  name: string;
  module: string | null;
}

export class Kallsyms {
  /** Sorted addresses (as Numbers above 2^53 lose bits, kept as the upper/lower halves). */
  private readonly hi: Float64Array;
  private readonly lo: Float64Array;
  private readonly names: string[];
  private readonly cache = new Map<bigint | number, number>();

  constructor(readonly symbols: KernelSymbol[]) {
    // Lookups use every symbol with a kernel address (not the per-CPU offsets of type A near 0).
    const usable = symbols
      .map((s, i) => ({ s, i }))
      .filter(
        ({ s }) =>
          s.type !== 'A' && s.type !== 'a' && s.type !== 'U' && s.addr >= 0xffff000000000000n,
      )
      .sort((a, b) => (a.s.addr < b.s.addr ? -1 : a.s.addr > b.s.addr ? 1 : a.i - b.i));
    this.hi = new Float64Array(usable.length);
    this.lo = new Float64Array(usable.length);
    this.names = [];
    for (let k = 0; k < usable.length; k++) {
      const a = usable[k].s.addr;
      this.hi[k] = Number(a >> 32n);
      this.lo[k] = Number(a & 0xffffffffn);
      this.names.push(usable[k].s.name);
    }
  }

  static parse(text: string): Kallsyms {
    const out: KernelSymbol[] = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]+) (\S) (\S+)(?:\s+\[(\S+)\])?/.exec(line);
      if (m) out.push({ addr: BigInt('0x' + m[1]), type: m[2], name: m[3], module: m[4] ?? null });
    }
    return new Kallsyms(out);
  }

  /** Index of the first symbol at the highest address <= addr, or -1. */
  private find(addr: bigint): number {
    const hi = Number(addr >> 32n);
    const lo = Number(addr & 0xffffffffn);
    let a = 0;
    let b = this.hi.length - 1;
    let r = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (this.hi[m] < hi || (this.hi[m] === hi && this.lo[m] <= lo)) {
        r = m;
        a = m + 1;
      } else b = m - 1;
    }
    while (r > 0 && this.hi[r - 1] === this.hi[r] && this.lo[r - 1] === this.lo[r]) r--;
    return r;
  }

  private addrAt(k: number): bigint {
    return (BigInt(this.hi[k]) << 32n) | BigInt(this.lo[k]);
  }

  /** `name+0xoff/0xsize` (%pS) or `name` (%ps); null where the kernel prints the address. */
  format(addr: bigint, withOffset: boolean): string | null {
    const k = this.find(addr);
    if (k < 0) return null;
    const start = this.addrAt(k);
    let next = k + 1;
    while (next < this.hi.length && this.hi[next] === this.hi[k] && this.lo[next] === this.lo[k])
      next++;
    // Past the last symbol the kernel knows no size, and prints the address.
    if (next >= this.hi.length) return null;
    if (!withOffset) return this.names[k];
    const size = this.addrAt(next) - start;
    return `${this.names[k]}+0x${(addr - start).toString(16)}/0x${size.toString(16)}`;
  }

  /** The name of the function containing addr (kprobe `func`), cached. */
  name(addr: bigint): string | null {
    let k = this.cache.get(addr);
    if (k === undefined) {
      k = this.find(addr);
      if (k >= 0 && k + 1 >= this.hi.length) k = -1;
      this.cache.set(addr, k);
    }
    return k < 0 ? null : this.names[k];
  }
}
