// Where a trace's struct pages live. A probe prints a folio or page as a pointer into the vmemmap
// array (arch/x86/include/asm/pgtable_64_types.h: 64 bytes per struct page), and the model wants
// its PFN: (pointer - vmemmap_base) / sizeof(struct page). With KASLR off the base is fixed; with
// it on, arch/x86/mm/kaslr.c places it at a random PUD-aligned (1 GiB) address above the direct
// map and vmalloc regions, so it is read off the trace: the highest 1 GiB region below the kernel
// image that a column of 64-byte-aligned pointers starts in.
import { quoteIdent, type Db } from '../store/db.js';

export const VMEMMAP_BASE_L4 = 0xffffea0000000000n; // __VMEMMAP_BASE_L4
export const VMEMMAP_BASE_L5 = 0xffd4000000000000n; // __VMEMMAP_BASE_L5
/** How far above its base a struct page pointer is looked for: 2^30 pages (4 TiB of memory). */
export const VMEMMAP_SPAN = 1n << 36n;

const U64 = 18446744073709551616n;
const PUD_SHIFT = 30n;
/** __START_KERNEL_map: the kernel image and modules lie above; no struct page there. */
const START_KERNEL_MAP = 0xffffffff80000000n;
/** Below this no kernel pointer of the x86-64 layouts (5-level's direct map starts higher). */
const KERNEL_LOW = 0xff00000000000000n;

/**
 * A 64-bit column read as unsigned (a pointer printed in decimal may have wrapped negative): the
 * value itself where it is one already, the value plus 2^64 where it wrapped (every kernel pointer
 * in a BIGINT column), the HUGEINT modulo (a 128-bit division per row, most of the replay's setup
 * on 10^8 events) only for what lies outside both.
 */
export const unsignedSql = (col: string) =>
  `(CASE WHEN ${col} >= 0 AND ${col} < ${U64} THEN ${col}::HUGEINT WHEN ${col} < 0 AND ${col} >= -${U64} THEN ${col}::HUGEINT + ${U64} ELSE (${col}::HUGEINT + ${U64}) % ${U64} END)`;

/**
 * The vmemmap base of the trace whose kprobe tables are given (table -> numeric columns): a fixed
 * base if any value falls above one, else the KASLR base found as above, else the 4-level base.
 */
export async function vmemmapBase(db: Db, tables: Map<string, string[]>): Promise<bigint> {
  let l4 = 0;
  let l5 = 0;
  let kaslr: bigint | null = null;
  // One scan per table, the tables side by side on connections of their own.
  const scans = [...tables].filter(([, cols]) => cols.length);
  const rows = await Promise.all(
    scans.map(async ([table, cols]) => {
      const parts = cols.flatMap((c) => {
        const uv = unsignedSql(quoteIdent(c));
        const ptr = `${uv} >= ${KERNEL_LOW} AND ${uv} < ${START_KERNEL_MAP} AND ${uv} % 64 = 0`;
        return [
          `count(*) FILTER (WHERE ${uv} >= ${VMEMMAP_BASE_L4} AND ${uv} < ${VMEMMAP_BASE_L4 + VMEMMAP_SPAN})`,
          `count(*) FILTER (WHERE ${uv} >= ${VMEMMAP_BASE_L5} AND ${uv} < ${VMEMMAP_BASE_L5 + VMEMMAP_SPAN})`,
          `count(*) FILTER (WHERE ${uv} <> 0)`,
          `count(*) FILTER (WHERE ${ptr})`,
          `min(${uv}) FILTER (WHERE ${ptr})`,
        ];
      });
      const [row] = await db.rowsAside<Record<string, unknown>>(
        `SELECT ${parts.map((p, i) => `${p} AS c${i}`).join(', ')} FROM ${quoteIdent(table)}`,
      );
      return row;
    }),
  );
  for (const [k, [, cols]] of scans.entries()) {
    const row = rows[k];
    for (let i = 0; i < cols.length; i++) {
      const v = (j: number) => row[`c${i * 5 + j}`];
      l4 += Number(v(0));
      l5 += Number(v(1));
      const nonzero = Number(v(2));
      // Every value a 64-byte-aligned kernel pointer, and more than one: a column of struct pages.
      if (nonzero > 1 && Number(v(3)) === nonzero) {
        const region = (BigInt(String(v(4))) >> PUD_SHIFT) << PUD_SHIFT;
        if (kaslr === null || region > kaslr) kaslr = region;
      }
    }
  }
  if (l4 || l5) return l4 >= l5 ? VMEMMAP_BASE_L4 : VMEMMAP_BASE_L5;
  return kaslr ?? VMEMMAP_BASE_L4;
}

/** A struct page / folio pointer (unsigned SQL) as a PFN, NULL where it is not one. */
export const pfnSql = (col: string, structPage: number, base: bigint) =>
  `CASE WHEN ${col} >= ${base} AND ${col} < ${base + VMEMMAP_SPAN} THEN (${col} - ${base}) // ${structPage} END`;
