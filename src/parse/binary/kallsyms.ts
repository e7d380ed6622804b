// A trace's copy of /proc/kallsyms: kernel addresses to symbols, the way the kernel's `%pS`/`%ps`
// print them (kernel/kallsyms.c: the symbol at or below the address, its size up to the next
// symbol's address; of aliases at one address, the first listed). Addresses are kept as two
// 32-bit halves (a full kernel has ~150k symbols: a BigInt each would cost more than the rest).

export class Kallsyms {
  private readonly hi: number[] = [];
  private readonly lo: number[] = [];
  private readonly types: string[] = [];
  private readonly names: string[] = [];
  private readonly modules: (string | null)[] = [];
  /** Lookup order: indices of symbols with kernel addresses, by address then listing order. */
  private order: Int32Array | null = null;
  private readonly cache = new Map<bigint, number>();

  get size(): number {
    return this.names.length;
  }

  static parse(text: string): Kallsyms {
    const k = new Kallsyms();
    let at = 0;
    while (at < text.length) {
      let nl = text.indexOf('\n', at);
      if (nl < 0) nl = text.length;
      // `ADDR T name` or `ADDR t name\t[module]` (the tab searched within the line: a search for
      // the next tab from a core symbol would run on to the modules at the end, for every line).
      const start = at;
      at = nl + 1;
      let sp = text.indexOf(' ', start);
      if (sp < 0 || sp > nl) sp = nl;
      if (sp <= start || sp + 3 >= nl || text.charCodeAt(sp + 2) !== 32) continue;
      let tab = sp + 3;
      while (tab < nl && text.charCodeAt(tab) !== 9) tab++;
      if (tab === nl) tab = -1;
      const split = Math.max(start, sp - 8);
      const hi = split > start ? hexAt(text, start, split) : 0;
      const lo = hexAt(text, split, sp);
      if (hi !== hi || lo !== lo) continue;
      k.hi.push(hi);
      k.lo.push(lo);
      k.types.push(text[sp + 1]);
      k.names.push(text.slice(sp + 3, tab >= 0 ? tab : nl));
      k.modules.push(tab >= 0 ? (/\[(\S+)\]/.exec(text.slice(tab, nl))?.[1] ?? null) : null);
    }
    return k;
  }

  /**
   * Calls f for every text symbol (types t, T, w, W): what the kallsyms table keeps. Its address is
   * hi * 2^32 + lo, each half as parseInt read its hex digits (two words, no BigInt, as a rule).
   */
  forEachText(
    f: (hi: number, lo: number, type: string, name: string, module: string | null) => void,
  ): void {
    for (let i = 0; i < this.names.length; i++) {
      const t = this.types[i];
      if (t !== 't' && t !== 'T' && t !== 'w' && t !== 'W') continue;
      f(this.hi[i], this.lo[i], t, this.names[i], this.modules[i]);
    }
  }

  private lookupOrder(): Int32Array {
    if (this.order) return this.order;
    const idx: number[] = [];
    for (let i = 0; i < this.names.length; i++) {
      const t = this.types[i];
      // Per-CPU offsets (type A) and undefined symbols have no kernel address.
      if (t === 'A' || t === 'a' || t === 'U' || this.hi[i] < 0xffff0000) continue;
      idx.push(i);
    }
    idx.sort((a, b) => this.hi[a] - this.hi[b] || this.lo[a] - this.lo[b] || a - b);
    this.order = Int32Array.from(idx);
    return this.order;
  }

  /**
   * Every address below this one (a Number) is below every symbol lookups find: format() and
   * name() give null for it without searching.
   */
  get lowest(): number {
    const o = this.lookupOrder();
    return o.length ? Math.min(this.hi[o[0]] * 2 ** 32 + this.lo[o[0]], 2 ** 53) : 2 ** 53;
  }

  /** Position in the lookup order of the first symbol at the highest address <= addr, or -1. */
  private find(addr: bigint): number {
    const o = this.lookupOrder();
    const hi = Number(addr >> 32n);
    const lo = Number(addr & 0xffffffffn);
    let a = 0;
    let b = o.length - 1;
    let r = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      const s = o[m];
      if (this.hi[s] < hi || (this.hi[s] === hi && this.lo[s] <= lo)) {
        r = m;
        a = m + 1;
      } else b = m - 1;
    }
    while (r > 0 && this.same(o[r - 1], o[r])) r--;
    return r;
  }

  private same(a: number, b: number): boolean {
    return this.hi[a] === this.hi[b] && this.lo[a] === this.lo[b];
  }

  private addr(i: number): bigint {
    return symbolAddr(this.hi[i], this.lo[i]);
  }

  /** The next symbol at a higher address than position r, or -1 past the last. */
  private nextAbove(r: number): number {
    const o = this.lookupOrder();
    let n = r + 1;
    while (n < o.length && this.same(o[n], o[r])) n++;
    return n < o.length ? n : -1;
  }

  /** `name+0xoff/0xsize` (%pS) or `name` (%ps); null where the kernel prints the address. */
  format(addr: bigint, withOffset: boolean): string | null {
    const r = this.find(addr);
    if (r < 0) return null;
    const o = this.lookupOrder();
    const n = this.nextAbove(r);
    // Past the last symbol the kernel knows no size, and prints the address.
    if (n < 0) return null;
    if (!withOffset) return this.names[o[r]];
    const start = this.addr(o[r]);
    const size = this.addr(o[n]) - start;
    return `${this.names[o[r]]}+0x${(addr - start).toString(16)}/0x${size.toString(16)}`;
  }

  /**
   * The symbol containing addr and the offset into it (where a kprobe sits), or null: below every
   * symbol, or past the last by more than any function is long (a megabyte).
   */
  symbol(addr: bigint): { name: string; offset: number } | null {
    const r = this.find(addr);
    if (r < 0) return null;
    const i = this.lookupOrder()[r];
    const offset = addr - this.addr(i);
    return this.nextAbove(r) < 0 && offset >= 1n << 20n
      ? null
      : { name: this.names[i], offset: Number(offset) };
  }

  /** The name of the function containing addr (a kprobe's `func`), cached. */
  name(addr: bigint): string | null {
    let r = this.cache.get(addr);
    if (r === undefined) {
      r = this.find(addr);
      if (r >= 0 && this.nextAbove(r) < 0) r = -1;
      this.cache.set(addr, r);
    }
    return r < 0 ? null : this.names[this.lookupOrder()[r]];
  }
}

/** The address forEachText gives as two halves. */
export function symbolAddr(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** parseInt(text.slice(from, to), 16), without the slice where the text is hex digits alone. */
function hexAt(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    // The letter test folds case (| 0x20); the digit test must not (0x10 | 0x20 is "0").
    if (c >= 48 && c <= 57) v = v * 16 + (c - 48);
    else if ((c | 0x20) >= 97 && (c | 0x20) <= 102) v = v * 16 + ((c | 0x20) - 87);
    else return parseInt(text.slice(from, to), 16);
  }
  return to - from > 13 ? parseInt(text.slice(from, to), 16) : v;
}
