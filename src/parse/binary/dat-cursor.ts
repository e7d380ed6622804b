// The records of a trace-cmd `.dat` as one cursor: every CPU's ring-buffer pages (ring-buffer.ts)
// merged by timestamp, with the lost-events markers the pages carry.
import { i32be, i32le, u16be, u16le, type BinaryFile } from './bytes.js';
import { binaryCursor, type BinaryCursor } from './binary-cursor.js';
import { CpuEvents } from './ring-buffer.js';
import { cpuPages, type DatFile } from './tracecmd-dat.js';

/** One CPU's records of one buffer, in the order its ring-buffer pages hold them. */
export function cpuEvents(
  file: BinaryFile,
  dat: DatFile,
  buffer: DatFile['buffers'][number],
  cpu: DatFile['buffers'][number]['cpus'][number],
): CpuEvents {
  return new CpuEvents(
    cpu.cpu,
    cpuPages(file, dat, buffer, cpu),
    dat.littleEndian,
    dat.td.longSize,
    dat.td.pageDataOffset,
    (o, p) => file.fail(o, p),
  );
}

/**
 * Every CPU of every buffer of a `.dat`, merged by timestamp (ties to the lower CPU, as the
 * kernel and trace-cmd merge them), with the file's OFFSET and TSC2NSEC applied.
 */
export function datCursor(file: BinaryFile, dat: DatFile): BinaryCursor {
  const streams: CpuEvents[] = [];
  for (const b of dat.buffers) {
    for (const c of b.cpus) {
      if (c.size === 0) continue;
      streams.push(cpuEvents(file, dat, b, c));
    }
  }
  const live: CpuEvents[] = [];
  const pending: CpuEvents[] = [...streams];
  const tsc = dat.tsc2nsec;
  const offset = dat.tsOffset;
  const adjust = (t: number | bigint): number | bigint => {
    if (!tsc && offset === 0n) return t;
    let v = BigInt(t);
    if (tsc) v = (v * BigInt(tsc.mult)) >> BigInt(tsc.shift);
    v += offset;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : v;
  };
  let current: CpuEvents | null = null;
  let lostFirst = false;
  /** common_pid's offset by event id, from each format as its first record comes. */
  const pidOffset = new Map<number, number>();
  const le = dat.littleEndian;
  const cur = binaryCursor(() => {
    if (lostFirst) {
      // The event after a lost marker: the stream is already on it.
      lostFirst = false;
      return emit(current!);
    }
    if (current && !current.next()) {
      if (current.pending) {
        const c = current;
        live.splice(live.indexOf(c), 1);
        const n = c.pending;
        c.pending = 0;
        current = null;
        return lost(c.cpu, n);
      }
      live.splice(live.indexOf(current), 1);
    }
    while (pending.length) {
      const s = pending.pop()!;
      if (s.next()) live.push(s);
    }
    if (!live.length) return false;
    let best = live[0];
    for (let i = 1; i < live.length; i++) {
      const s = live[i];
      if (s.ts < best.ts || (s.ts === best.ts && s.cpu < best.cpu)) best = s;
    }
    current = best;
    if (best.missed) {
      const n = best.missed;
      best.missed = 0;
      lostFirst = true;
      return lost(best.cpu, n);
    }
    return emit(best);
  });
  /** A lost-events record: n events dropped on cpu. */
  const lost = (cpu: number, n: number): boolean => {
    cur.kind = 'lost';
    cur.cpu = cpu;
    cur.lost = n;
    return true;
  };
  const emit = (s: CpuEvents): boolean => {
    cur.kind = 'event';
    cur.ts = adjust(s.ts);
    cur.cpu = s.cpu;
    cur.buf = s.buf;
    cur.rec = s.rec;
    cur.len = s.len;
    const type = le ? u16le(s.buf, s.rec) : u16be(s.buf, s.rec);
    let po = pidOffset.get(type);
    if (po === undefined) pidOffset.set(type, (po = dat.td.format(type)?.pidOffset ?? 4));
    cur.tid = s.len >= po + 4 ? (le ? i32le(s.buf, s.rec + po) : i32be(s.buf, s.rec + po)) : 0;
    return true;
  };
  return cur;
}
