// Folios by page frame number (the kernel's pfn_to_page), keyed by the PFN as a number: a Map
// keyed by bigint hashes and compares each key through a runtime call (about 120 ns a lookup
// against 15), and a folio's life takes about six lookups (allocation, LRU insertion, free). A PFN
// of 2^53 or more (a damaged field) cannot be a number exactly: it keeps a bigint-keyed Map of its
// own. Map's methods.
import type { Folio } from './types.js';

const EXACT = 2n ** 53n;

export class PfnIndex {
  private readonly small = new Map<number, Folio>();
  private readonly big = new Map<bigint, Folio>();

  get size(): number {
    return this.small.size + this.big.size;
  }

  get(pfn: bigint): Folio | undefined {
    return pfn < EXACT && pfn >= 0n ? this.small.get(Number(pfn)) : this.big.get(pfn);
  }

  /** get() for a PFN read from an event as a number (no bigint made to look it up). */
  at(pfn: number): Folio | undefined {
    return Number.isSafeInteger(pfn) && pfn >= 0 ? this.small.get(pfn) : this.get(BigInt(pfn));
  }

  has(pfn: bigint): boolean {
    return this.get(pfn) !== undefined;
  }

  set(pfn: bigint, f: Folio): this {
    if (pfn < EXACT && pfn >= 0n) this.small.set(Number(pfn), f);
    else this.big.set(pfn, f);
    return this;
  }

  delete(pfn: bigint): boolean {
    return pfn < EXACT && pfn >= 0n ? this.small.delete(Number(pfn)) : this.big.delete(pfn);
  }

  *values(): IterableIterator<Folio> {
    yield* this.small.values();
    yield* this.big.values();
  }
}
