// Strings of ASCII byte ranges, each distinct value made once: a trace repeats its comms, event
// names, flags and symbolic values on every line, and one string object per value (not one per
// line) costs no allocation and is compared by pointer downstream (dictionaries, column batches).

/** Distinct values kept at most; past that a value gets a fresh string each time. */
const MAX_ENTRIES = 4096;

export class Interner {
  private readonly byHash = new Map<number, string[]>();
  private size = 0;
  private last = '';

  /** The string of bytes [s, e) of `b`, which are ASCII. */
  get(b: Buffer, s: number, e: number): string {
    const n = e - s;
    if (sameBytes(this.last, b, s, n)) return this.last;
    let h = n;
    for (let i = s; i < e; i++) h = (Math.imul(h, 31) + b[i]) | 0;
    const bucket = this.byHash.get(h);
    if (bucket) {
      for (const str of bucket)
        if (sameBytes(str, b, s, n)) {
          this.last = str;
          return str;
        }
    }
    const str = b.toString('latin1', s, e);
    if (this.size < MAX_ENTRIES) {
      this.size++;
      if (bucket) bucket.push(str);
      else this.byHash.set(h, [str]);
    }
    this.last = str;
    return str;
  }
}

/** Whether `str` is the ASCII bytes [s, s + n) of `b`. */
export function sameBytes(str: string, b: Uint8Array, s: number, n: number): boolean {
  if (str.length !== n) return false;
  for (let i = 0; i < n; i++) if (str.charCodeAt(i) !== b[s + i]) return false;
  return true;
}
