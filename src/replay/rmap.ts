// A folio's reverse map (mm/rmap.c: what the anon_vma chain finds): the mm and address of each
// PTE or PMD that maps it, by Model's rmapKey. Most folios are mapped once: that mapping is kept
// in place, and a Map made only for a second (a Map per folio was a tenth of the replay's
// allocations). Map's methods and order: values() in the order the mappings were added.

export interface Mapping {
  mm: number;
  va: number;
}

type Key = number | string;

export class Rmap {
  private key: Key | null = null;
  private one: Mapping | null = null;
  private many: Map<Key, Mapping> | null = null;

  set(key: Key, m: Mapping): this {
    if (this.many) this.many.set(key, m);
    else if (this.key === null || this.key === key) {
      this.key = key;
      this.one = m;
    } else {
      this.many = new Map([
        [this.key, this.one!],
        [key, m],
      ]);
      this.key = this.one = null;
    }
    return this;
  }

  delete(key: Key): boolean {
    if (this.many) return this.many.delete(key);
    if (this.key !== key) return false;
    this.key = this.one = null;
    return true;
  }

  values(): Iterable<Mapping> {
    if (this.many) return this.many.values();
    return this.one ? [this.one] : [];
  }

  clear(): void {
    this.key = this.one = this.many = null;
  }
}
