// Metadata read from the files a recording leaves beside its trace.
import fs from 'node:fs';
import path from 'node:path';

/** The release in a `uname -a` line (`Linux vm 6.18.44-fc #1 SMP ...`). */
export function releaseOf(uname: string | null): string | undefined {
  return uname
    ?.trim()
    .split(/\s+/)
    .find((w) => /^\d+\.\d+/.test(w));
}

/**
 * What the lab saves beside its traces (uname.txt, offsets.txt, la57.txt, here or one directory
 * up): the release picks the replay's semantics, sizeof(struct page) turns kprobe page pointers
 * into PFNs (56 bytes on the 6.1 SLOB build), la57.txt holds the guest's cpuinfo la57 flag when it
 * runs 5-level paging. A release in `own` (a .dat's uname) wins.
 */
export function besideMetadata(
  file: string,
  own: Record<string, unknown>,
): Record<string, unknown> {
  const besides = (name: string) =>
    [path.dirname(file), path.dirname(path.dirname(file))]
      .map((d) => path.join(d, name))
      .find((p) => fs.existsSync(p));
  const uname = besides('uname.txt');
  const offsets = besides('offsets.txt');
  const pageSize = offsets
    ? /^sizeof_page (\d+)/m.exec(fs.readFileSync(offsets, 'utf8'))?.[1]
    : undefined;
  const la57 = besides('la57.txt');
  return {
    ...(own.kernel_release === undefined && uname
      ? { kernel_release: releaseOf(fs.readFileSync(uname, 'utf8')) }
      : {}),
    ...(pageSize ? { struct_page_size: Number(pageSize) } : {}),
    ...(la57 ? { paging_levels: /\bla57\b/.test(fs.readFileSync(la57, 'utf8')) ? 5 : 4 } : {}),
  };
}
