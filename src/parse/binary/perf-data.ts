// perf.data (PERFILE2, tools/perf/Documentation/perf.data-file-format.txt): the attrs (event
// type, sample layout), the feature sections (HEADER_TRACING_DATA holds the same tracing data as
// a .dat: header page, format files, kallsyms, printk, saved_cmdlines), and the data records:
// PERF_RECORD_SAMPLE's raw data is the tracepoint's record, decoded like a ring-buffer event;
// COMM/FORK give task names; LOST and LOST_SAMPLES become lost_events. Records are put in time
// order as perf does (tools/perf/util/ordered-events.c): at each FINISHED_ROUND, what is older
// than the previous round's newest time is final.
import { binaryCursor, type BinaryCursor } from './binary-cursor.js';
import { Decompress as ZstdStream } from 'fzstd';
import { BinaryFile, Cursor } from './bytes.js';
import { TracingData } from './tracing-data.js';

export const PERF_MAGIC = Buffer.from('PERFILE2');

/** perf_event_header.type values read here (include/uapi/linux/perf_event.h, util/event.h). */
const REC = {
  LOST: 2,
  COMM: 3,
  EXIT: 4,
  FORK: 7,
  SAMPLE: 9,
  LOST_SAMPLES: 13,
  FINISHED_ROUND: 68,
  COMPRESSED: 81,
  COMPRESSED2: 83,
} as const;

/** perf_event_attr.sample_type bits (the low 32 of its 64, a Number: tested per record). */
const S = {
  IP: 1 << 0,
  TID: 1 << 1,
  TIME: 1 << 2,
  ADDR: 1 << 3,
  READ: 1 << 4,
  CALLCHAIN: 1 << 5,
  ID: 1 << 6,
  CPU: 1 << 7,
  PERIOD: 1 << 8,
  STREAM_ID: 1 << 9,
  RAW: 1 << 10,
  IDENTIFIER: 1 << 16,
};

/** Feature bits (tools/perf/util/header.h). */
const FEAT = {
  TRACING_DATA: 1,
  HOSTNAME: 3,
  OSRELEASE: 4,
  VERSION: 5,
  ARCH: 6,
  NRCPUS: 7,
  CMDLINE: 11,
} as const;

const PERF_TYPE_TRACEPOINT = 2;
const SAMPLE_ID_ALL = 1n << 18n;

interface Attr {
  type: number;
  config: bigint;
  sampleType: bigint;
  sampleIdAll: boolean;
  /** sampleType's low 32 bits, tested per record. */
  st: number;
  /** Bytes of the sample_id trailer of its non-sample records. */
  idSize: number;
  /** A tracepoint's samples are events; another's (perf's dummy event) are counted. */
  tracepoint: boolean;
}

export interface PerfFile {
  littleEndian: boolean;
  td: TracingData;
  metadata: Record<string, unknown>;
  cursor(): BinaryCursor;
}

/** What an item is: a sample, a lost-records count, a COMM or a FORK. */
const enum Is {
  Event,
  Lost,
  Comm,
  Fork,
}

/**
 * Records read and not yet handed on, a column each, an item's index its place in the file: an
 * object per sample, held until its round was flushed, took the ingest of a recorded 1.29 M-sample
 * perf.data to a peak RSS of 279-311 MB (246-257 MB so, for the same CPU time).
 */
class Items {
  n = 0;
  ts = new Float64Array(1024);
  is = new Uint8Array(1024);
  cpu = new Int32Array(1024);
  pid = new Int32Array(1024);
  tid = new Int32Array(1024);
  lost = new Float64Array(1024);
  /** A sample's raw data: bytes [rawAt, rawAt + rawLen) of raw (the window it was read in). */
  rawAt = new Int32Array(1024);
  rawLen = new Int32Array(1024);
  raw: (Buffer | null)[] = [];
  /** comm of a COMM item. */
  comm: string[] = [];

  push(
    ts: number,
    is: Is,
    cpu: number,
    pid: number,
    tid: number,
    lost: number,
    raw: Buffer | null,
    rawAt: number,
    rawLen: number,
    comm: string,
  ): void {
    const i = this.n++;
    if (i === this.ts.length) this.grow();
    this.ts[i] = ts;
    this.is[i] = is;
    this.cpu[i] = cpu;
    this.pid[i] = pid;
    this.tid[i] = tid;
    this.lost[i] = lost;
    this.rawAt[i] = rawAt;
    this.rawLen[i] = rawLen;
    this.raw[i] = raw;
    this.comm[i] = comm;
  }

  /** Item i of `from` appended. */
  copy(from: Items, i: number): void {
    this.push(
      from.ts[i],
      from.is[i],
      from.cpu[i],
      from.pid[i],
      from.tid[i],
      from.lost[i],
      from.raw[i],
      from.rawAt[i],
      from.rawLen[i],
      from.comm[i],
    );
  }

  clear(): void {
    this.n = 0;
    this.raw.length = 0;
    this.comm.length = 0;
  }

  private grow(): void {
    const m = this.ts.length * 2;
    this.ts = copyTo(new Float64Array(m), this.ts);
    this.is = copyTo(new Uint8Array(m), this.is);
    this.cpu = copyTo(new Int32Array(m), this.cpu);
    this.pid = copyTo(new Int32Array(m), this.pid);
    this.tid = copyTo(new Int32Array(m), this.tid);
    this.lost = copyTo(new Float64Array(m), this.lost);
    this.rawAt = copyTo(new Int32Array(m), this.rawAt);
    this.rawLen = copyTo(new Int32Array(m), this.rawLen);
  }
}

function copyTo<T extends Float64Array | Int32Array | Uint8Array>(to: T, from: T): T {
  to.set(from);
  return to;
}

export function readPerf(file: BinaryFile): PerfFile {
  const h = file.cursor(0, Math.min(file.size, 104), 'perf.data header', true);
  const magic = h.bytes(8, 'magic');
  if (!magic.equals(PERF_MAGIC)) {
    if (magic.equals(Buffer.from(PERF_MAGIC).reverse()))
      h.fail('a big-endian perf.data is not read');
    h.fail('not a perf.data file (bad magic)');
  }
  const headerSize = h.u64('header size');
  if (headerSize === 16)
    h.fail('a piped perf.data (perf record -o -) is not read; record to a file');
  if (headerSize !== 104) h.fail(`header size ${headerSize}, expected 104`);
  const attrSize = h.u64('attr size');
  const attrsAt = h.u64('attrs offset');
  const attrsSize = h.u64('attrs size');
  const dataAt = h.u64('data offset');
  const dataSize = h.u64('data size');
  h.skip(16, 'event types section');
  const features = h.bytes(32, 'feature bits');
  if (attrSize < 16 + 64 || attrSize > 4096) h.fail(`attr size ${attrSize}`);
  if (dataAt + dataSize > file.size)
    file.fail(
      dataAt,
      `data section (${dataSize} bytes at ${dataAt}) runs past the end of the file (${file.size} bytes; truncated?)`,
    );

  const n = Math.floor(attrsSize / attrSize);
  const attrs: Attr[] = [];
  const byId = new Map<bigint, Attr>();
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = file.cursor(attrsAt + i * attrSize, attrSize, `attr ${i}`, true);
    const type = a.u32();
    a.u32(); // its size
    const config = a.u64big();
    a.u64big(); // sample_period
    const sampleType = a.u64big();
    a.u64big(); // read_format
    const flags = a.u64big();
    const sampleIdAll = (flags & SAMPLE_ID_ALL) !== 0n;
    const st = Number(BigInt.asUintN(32, sampleType));
    const attr: Attr = {
      type,
      config,
      sampleType,
      sampleIdAll,
      st,
      idSize: sampleIdAll ? sampleIdSize(st) : 0,
      tracepoint: type === PERF_TYPE_TRACEPOINT,
    };
    attrs.push(attr);
    a.pos = attrSize - 16;
    const idsAt = a.u64('ids offset');
    const idsSize = a.u64('ids size');
    if (idsSize > 0) {
      const ids = file.cursor(idsAt, idsSize, `attr ${i} ids`, true);
      while (ids.remaining >= 8) byId.set(ids.u64big(), attr);
    }
  }
  if (!attrs.length) h.fail('no event attrs');
  const tracepoints = attrs.filter((a) => a.tracepoint);
  // perf record -a adds a dummy software event for side-band records (comm, fork): its samples,
  // if any, carry no raw data. Each record then names its event by PERF_SAMPLE_IDENTIFIER.
  const sameLayout = attrs.every(
    (a) => a.sampleType === attrs[0].sampleType && a.sampleIdAll === attrs[0].sampleIdAll,
  );
  if (!sameLayout && !attrs.every((a) => a.st & S.IDENTIFIER))
    h.fail('events with different sample layouts and no PERF_SAMPLE_IDENTIFIER');
  if (!sameLayout && !byId.size) h.fail('events with different sample layouts and no event ids');
  for (const a of tracepoints.length ? tracepoints : attrs) {
    if (!(a.st & S.RAW))
      h.fail('samples without raw data (PERF_SAMPLE_RAW): not a tracepoint recording');
    if (a.st & S.READ) h.fail('samples with PERF_SAMPLE_READ are not read');
  }

  // Feature sections follow the data, one {offset, size} per set bit, in bit order.
  const td = new TracingData();
  const metadata: Record<string, unknown> = {};
  let sec = dataAt + dataSize;
  for (let bit = 1; bit < 256; bit++) {
    if (!(features[bit >> 3] & (1 << (bit & 7)))) continue;
    const s = file.cursor(sec, 16, `feature ${bit} section`, true);
    sec += 16;
    const at = s.u64('feature offset');
    const size = s.u64('feature size');
    if (bit === FEAT.TRACING_DATA)
      readTracingData(file.cursor(at, size, 'HEADER_TRACING_DATA', true), td);
    else if (
      bit === FEAT.HOSTNAME ||
      bit === FEAT.OSRELEASE ||
      bit === FEAT.VERSION ||
      bit === FEAT.ARCH
    ) {
      const v = perfString(file.cursor(at, size, `feature ${bit}`, true));
      metadata[
        {
          [FEAT.HOSTNAME]: 'hostname',
          [FEAT.OSRELEASE]: 'kernel_release',
          [FEAT.VERSION]: 'perf_version',
          [FEAT.ARCH]: 'arch',
        }[bit]!
      ] = v;
    } else if (bit === FEAT.NRCPUS) {
      const c = file.cursor(at, size, 'HEADER_NRCPUS', true);
      metadata.cpus = c.u32();
      metadata.cpus_online = c.u32();
    } else if (bit === FEAT.CMDLINE) {
      const c = file.cursor(at, size, 'HEADER_CMDLINE', true);
      const k = c.u32();
      const args: string[] = [];
      for (let i = 0; i < k && c.remaining > 0; i++) args.push(perfString(c));
      metadata.command = args.join(' ');
    }
  }
  if (!td.formats.size)
    file.fail(0, 'no HEADER_TRACING_DATA: the recording has no tracepoint formats');
  for (const a of tracepoints) {
    const f = td.formats.get(Number(a.config));
    if (f) names.push(f.event);
  }
  metadata.events = names;
  return {
    littleEndian: true,
    td,
    metadata,
    cursor: () =>
      perfCursor(file, dataAt, dataSize, sameLayout ? null : byId, attrs[0], td, metadata),
  };
}

/** perf's do_write_string: a u32 length (padded), then the NUL-terminated string. */
function perfString(c: Cursor): string {
  const len = c.u32();
  const b = c.bytes(len, 'string');
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

/** perf's tracing data (tools/perf/util/trace-event-read.c): the .dat v6 start, version "0.x". */
function readTracingData(c: Cursor, td: TracingData): void {
  const magic = c.bytes(10, 'tracing data magic');
  if (!magic.equals(Buffer.from([0x17, 0x08, 0x44, ...Buffer.from('tracing')])))
    c.fail('tracing data: bad magic');
  const version = c.cstring('tracing data version');
  const endian = c.u8();
  if (endian !== 0) c.fail('big-endian tracing data is not read');
  c.u8(); // long size
  c.u32(); // page size
  td.readHeaders(c);
  td.readFtraceFormats(c);
  td.readEventFormats(c);
  td.readKallsyms(c);
  td.readPrintk(c);
  if (Number(version) >= 0.6 && c.remaining >= 8) td.readCmdlines(c);
}

const WINDOW = 1 << 20;
/** A compressed record's output past this is damage: perf compresses at most an mmap buffer into one. */
const MAX_UNZIPPED = 1 << 28;

/** Item.pid of a LOST_SAMPLES item. */
const LOST_SAMPLES = -2;

/** Bytes of the sample_id trailer (perf_event.h's struct sample_id) of a sample_type. */
function sampleIdSize(st: number): number {
  return (
    (st & S.TID ? 8 : 0) +
    (st & S.TIME ? 8 : 0) +
    (st & S.ID ? 8 : 0) +
    (st & S.STREAM_ID ? 8 : 0) +
    (st & S.CPU ? 8 : 0) +
    (st & S.IDENTIFIER ? 8 : 0)
  );
}

/**
 * The data section's records in time order. byId: null when every event has the layout of the
 * first, else each record's layout is its event's, found by its PERF_SAMPLE_IDENTIFIER (a
 * sample's first u64, a trailer's last), the first's for id 0 (perf's synthesized records, as
 * tools/perf/util/evlist.c evlist__event2evsel reads them).
 */
function perfCursor(
  file: BinaryFile,
  dataAt: number,
  dataSize: number,
  byId: Map<bigint, Attr> | null,
  first: Attr,
  td: TracingData,
  meta: Record<string, unknown>,
): BinaryCursor {
  const end = dataAt + dataSize;
  let win: Buffer = Buffer.alloc(0);
  let winAt = dataAt;
  let pos = dataAt;
  /** The layout of the record being read. */
  let st = first.st;
  let idSize = first.idSize;
  const attrOf = (id: bigint, at: number): Attr => {
    const a = id === 0n ? first : byId!.get(id);
    if (!a) file.fail(at, `a record of event id ${id}, which no attr lists`);
    st = a.st;
    idSize = a.idSize;
    return a;
  };
  let otherSamples = 0;
  // Read since the last flush; the items it made ready, in time order (order: their indices in
  // `ready`); and the Items the next flush fills (`ready`'s, handed on by then).
  let queue = new Items();
  let ready = new Items();
  let order: number[] = [];
  let readyAt = 0;
  let nextFlush = -1;
  let maxTs = 0;
  let done = false;
  const comms = new Map<number, string>(td.comms);
  // perf's name for the idle task, which no COMM record names (perf script prints it).
  if (!comms.has(0)) comms.set(0, 'swapper');
  let lostRecords = 0;
  let lostSamples = 0;

  // The record record() read last: its type, size, the buffer it is in (`win`, or a chunk of
  // decompressed records), where it starts there, and its file offset (for errors: a decompressed
  // record's is that of the compressed record it came in).
  let recType = 0;
  let recBuf: Buffer = win;
  let recAt = 0;
  let recSize = 0;
  let recPos = dataAt;
  // perf record -z: the payloads of its PERF_RECORD_COMPRESSED records are one zstd stream whose
  // output is records, which may run on from one compressed record's output into the next
  // (tools/perf/util/session.c, perf_session__process_compressed_event).
  let zstd: ZstdStream | null = null;
  let unzipped: Buffer[] = [];
  let unzippedBytes = 0;
  let dec: Buffer = Buffer.alloc(0);
  let decAt = 0;
  const record = (): boolean => {
    for (;;) {
      if (decAt + 8 <= dec.length) {
        const size = dec.readUInt16LE(decAt + 6);
        if (size < 8) file.fail(recPos, `perf record of ${size} bytes in compressed data`);
        if (decAt + size <= dec.length) {
          recType = dec.readUInt32LE(decAt);
          recBuf = dec;
          recAt = decAt;
          recSize = size;
          decAt += size;
          return true;
        }
      }
      if (!fileRecord()) {
        if (decAt < dec.length)
          file.fail(recPos, `compressed data ends ${dec.length - decAt} bytes into a record`);
        return false;
      }
      if (recType !== REC.COMPRESSED && recType !== REC.COMPRESSED2) return true;
      unzip(recBuf, recAt, recSize);
    }
  };

  /** Decompresses a compressed record's payload after what is left of the last one's records. */
  const unzip = (buf: Buffer, at: number, size: number): void => {
    let from = at + 8;
    let to = at + size;
    if (recType === REC.COMPRESSED2) {
      // struct perf_record_compressed2: a u64 data_size, then the data (padded to 8 bytes).
      if (size < 16) file.fail(recPos, `compressed record of ${size} bytes`);
      const n = Number(buf.readBigUInt64LE(at + 8));
      from = at + 16;
      if (n > to - from) file.fail(recPos, `compressed record's data_size ${n} runs past it`);
      to = from + n;
    }
    zstd ??= new ZstdStream((chunk) => {
      unzippedBytes += chunk.length;
      if (unzippedBytes > MAX_UNZIPPED)
        throw new Error(`a compressed record expands past ${MAX_UNZIPPED} bytes`);
      unzipped.push(Buffer.from(chunk));
    });
    unzipped = [dec.subarray(decAt)];
    unzippedBytes = 0;
    try {
      zstd.push(buf.subarray(from, to));
    } catch (e) {
      file.fail(
        recPos,
        `compressed record: zstd data does not decompress (${(e as Error).message})`,
      );
    }
    // A fresh buffer: samples queued for the next flush keep pointing into the old one.
    dec = Buffer.concat(unzipped);
    decAt = 0;
  };

  const fileRecord = (): boolean => {
    if (pos + 8 > end) {
      if (pos < end)
        file.fail(pos, `perf record header: ${end - pos} bytes left in the data section`);
      return false;
    }
    if (pos + 8 > winAt + win.length) {
      win = file.read(pos, Math.min(WINDOW, end - pos), 'perf data');
      winAt = pos;
    }
    let at = pos - winAt;
    const type = win.readUInt32LE(at);
    const size = win.readUInt16LE(at + 6);
    if (size < 8) file.fail(pos, `perf record of ${size} bytes`);
    if (pos + size > end) file.fail(pos, `perf record of ${size} bytes runs past the data section`);
    if (at + size > win.length) {
      // A new window: the old one stays as it is for the samples queued in it.
      win = file.read(pos, Math.min(Math.max(WINDOW, size), end - pos), 'perf data');
      winAt = pos;
      at = 0;
    }
    recPos = pos;
    pos += size;
    recType = type;
    recBuf = win;
    recAt = at;
    recSize = size;
    return true;
  };

  /** sample_id trailer of a non-sample record: time and cpu. */
  const trailer = (buf: Buffer, at: number, size: number): { ts: number; cpu: number } => {
    if (byId && size >= 16) attrOf(buf.readBigUInt64LE(at + size - 8), recPos);
    if (!idSize || size < 8 + idSize) return { ts: maxTs, cpu: -1 };
    let p = at + size - idSize;
    if (st & S.TID) p += 8;
    let ts = maxTs;
    if (st & S.TIME) {
      ts = readTime(buf, p);
      p += 8;
    }
    if (st & S.ID) p += 8;
    if (st & S.STREAM_ID) p += 8;
    const cpu = st & S.CPU ? buf.readUInt32LE(p) : -1;
    return { ts, cpu };
  };

  const readTime = (buf: Buffer, p: number): number => {
    const hi = buf.readUInt32LE(p + 4);
    if (hi >= 0x200000) file.fail(recPos, 'a sample time past 2^53 ns');
    return hi * 0x100000000 + buf.readUInt32LE(p);
  };

  const push = (
    ts: number,
    is: Is,
    cpu: number,
    pid: number,
    tid: number,
    lost = 0,
    raw: Buffer | null = null,
    rawAt = 0,
    rawLen = 0,
    comm = '',
  ) => {
    if (ts > maxTs) maxTs = ts;
    queue.push(ts, is, cpu, pid, tid, lost, raw, rawAt, rawLen, comm);
  };

  const parse = (type: number, buf: Buffer, at: number, size: number): void => {
    const stop = at + size;
    switch (type) {
      case REC.SAMPLE: {
        let p = at + 8;
        if (byId && !attrOf(buf.readBigUInt64LE(p), recPos).tracepoint) {
          meta.samples_not_tracepoints = ++otherSamples;
          break;
        }
        if (st & S.IDENTIFIER) p += 8;
        if (st & S.IP) p += 8;
        let pid = -1;
        let tid = -1;
        if (st & S.TID) {
          pid = buf.readInt32LE(p);
          tid = buf.readInt32LE(p + 4);
          p += 8;
        }
        let ts = maxTs;
        if (st & S.TIME) {
          ts = readTime(buf, p);
          p += 8;
        }
        if (st & S.ADDR) p += 8;
        if (st & S.ID) p += 8;
        if (st & S.STREAM_ID) p += 8;
        let cpu = -1;
        if (st & S.CPU) {
          cpu = buf.readUInt32LE(p);
          p += 8;
        }
        if (st & S.PERIOD) p += 8;
        if (st & S.CALLCHAIN) {
          const nr = Number(buf.readBigUInt64LE(p));
          p += 8 + 8 * nr;
        }
        if (p + 4 > stop) file.fail(recPos, 'sample shorter than its layout');
        const rawSize = buf.readUInt32LE(p);
        p += 4;
        if (p + rawSize > stop)
          file.fail(recPos, `sample raw data of ${rawSize} bytes runs past the record`);
        push(ts, Is.Event, cpu, pid, tid, 0, buf, p, rawSize);
        break;
      }
      case REC.COMM: {
        const pid = buf.readInt32LE(at + 8);
        const tid = buf.readInt32LE(at + 12);
        const nul = buf.indexOf(0, at + 16);
        const comm = buf.toString('utf8', at + 16, nul < 0 || nul > stop ? stop : nul);
        const t = trailer(buf, at, size);
        push(t.ts, Is.Comm, t.cpu, pid, tid, 0, null, 0, 0, comm);
        break;
      }
      case REC.FORK: {
        const tid = buf.readInt32LE(at + 16);
        const ptid = buf.readInt32LE(at + 20);
        const t = trailer(buf, at, size);
        push(t.ts, Is.Fork, t.cpu, ptid, tid);
        break;
      }
      case REC.LOST: {
        const lost = Number(buf.readBigUInt64LE(at + 16));
        const t = trailer(buf, at, size);
        push(t.ts, Is.Lost, t.cpu, -1, -1, lost);
        break;
      }
      case REC.LOST_SAMPLES: {
        const lost = Number(buf.readBigUInt64LE(at + 8));
        const t = trailer(buf, at, size);
        push(t.ts, Is.Lost, t.cpu, LOST_SAMPLES, -1, lost);
        break;
      }
      case REC.FINISHED_ROUND:
        flush(nextFlush);
        nextFlush = maxTs;
        break;
    }
  };

  /**
   * Makes the queued items with ts <= limit (all with Infinity) ready, in time order (ties in
   * file order); the rest stay queued.
   */
  const flush = (limit: number) => {
    const q = queue;
    if (!q.n) return;
    const ts = q.ts;
    // An array, not a Uint32Array: its sort (TimSort, which takes the CPUs' runs whole) took half
    // the time of the typed array's.
    const sorted: number[] = [];
    for (let i = 0; i < q.n; i++) sorted.push(i);
    sorted.sort((a, b) => ts[a] - ts[b] || a - b);
    let k = 0;
    while (k < sorted.length && ts[sorted[k]] <= limit) k++;
    if (!k) return;
    // `ready` was handed on before this flush (records are read only once it is).
    const next = ready;
    next.clear();
    for (let j = k; j < sorted.length; j++) next.copy(q, sorted[j]);
    ready = q;
    queue = next;
    sorted.length = k;
    order = sorted;
    readyAt = 0;
  };

  const cur = binaryCursor(() => {
    for (;;) {
      while (readyAt >= order.length) {
        if (done) return false;
        if (!record()) {
          done = true;
          flush(Infinity);
          continue;
        }
        parse(recType, recBuf, recAt, recSize);
      }
      const r = ready;
      const i = order[readyAt++];
      const is = r.is[i];
      if (is === Is.Comm) {
        comms.set(r.tid[i], r.comm[i]);
        continue;
      }
      if (is === Is.Lost) {
        // perf record (6.x) ends with a LOST_SAMPLES per event from the counters' lost counts:
        // the same losses its LOST records already reported. Those are kept in the metadata.
        if (r.pid[i] === LOST_SAMPLES) {
          lostSamples += r.lost[i];
          meta.lost_samples = lostSamples;
          if (lostRecords) continue;
        } else {
          lostRecords += r.lost[i];
          meta.lost_records = lostRecords;
        }
      }
      if (is === Is.Fork) {
        const c = comms.get(r.pid[i]);
        if (c !== undefined) comms.set(r.tid[i], c);
        continue;
      }
      cur.ts = r.ts[i];
      cur.cpu = r.cpu[i];
      if (is === Is.Lost) {
        cur.kind = 'lost';
        cur.lost = r.lost[i];
        return true;
      }
      cur.kind = 'event';
      const tid = r.tid[i];
      cur.tid = tid;
      cur.tgid = r.pid[i];
      cur.comm = comms.get(tid) ?? `:${tid}`;
      cur.buf = r.raw[i]!;
      cur.rec = r.rawAt[i];
      cur.len = r.rawLen[i];
      return true;
    }
  });
  return cur;
}
