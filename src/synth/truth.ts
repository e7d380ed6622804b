// The ground truth beside a synthetic trace, written as the simulation decides it (streamed):
//   TRACE.truth-requests.csv  one row per HMM_DMIRROR_EXCLUSIVE request
//   TRACE.truth-pages.csv     one row per page of each make_device_exclusive_range call
// `culprit_line` is the trace line (1-based, header included) of the event that replaced the page:
// the sys_enter_madvise of the MADV_DONTNEED that unmapped it.
import { ChunkFile } from './chunk-file.js';

export interface RequestTruth {
  requestId: number;
  ts: number;
  tid: number;
  start: number;
  npages: number;
  result: number;
  calls: number;
  failedPages: number;
  enoentPages: number;
}

export interface PageTruth {
  requestId: number;
  callId: number;
  idx: number;
  address: number;
  /** The page GUP pinned; null where GUP stopped short of it. */
  pfn: number | null;
  outcome: 'exclusive' | 'failed';
  cause: string;
  culpritLine: number | null;
  pinTs: number | null;
  walkTs: number | null;
  /**
   * Where the truth rests on something the replay cannot see (a known gap of the model, see the
   * README): which. Null elsewhere.
   */
  gap?: string | null;
}

export interface TruthSink {
  request(r: RequestTruth): void;
  page(p: PageTruth): void;
  close(): void;
}

export const REQUEST_COLUMNS =
  'request_id,ts_ns,tid,start_va,npages,result,calls,failed_pages,enoent_pages';
export const PAGE_COLUMNS =
  'request_id,call_id,idx,address,gup_pfn,outcome,cause,culprit_line,pin_ts_ns,walk_ts_ns,gap';

class CsvFile extends ChunkFile {
  constructor(file: string, header: string) {
    super(file);
    this.line(header);
  }
  row(s: string): void {
    this.line(s);
  }
}

export function truthFiles(trace: string): { requests: string; pages: string; meta: string } {
  return {
    requests: `${trace}.truth-requests.csv`,
    pages: `${trace}.truth-pages.csv`,
    meta: `${trace}.synth.json`,
  };
}

/** Streams the truth into the CSV files beside the trace. */
export class CsvTruth implements TruthSink {
  private req: CsvFile;
  private pages: CsvFile;
  constructor(trace: string) {
    const f = truthFiles(trace);
    this.req = new CsvFile(f.requests, REQUEST_COLUMNS);
    this.pages = new CsvFile(f.pages, PAGE_COLUMNS);
  }
  request(r: RequestTruth): void {
    this.req.row(
      `${r.requestId},${r.ts},${r.tid},${r.start},${r.npages},${r.result},${r.calls},${r.failedPages},${r.enoentPages}`,
    );
  }
  page(p: PageTruth): void {
    this.pages.row(
      `${p.requestId},${p.callId},${p.idx},${p.address},${p.pfn ?? ''},${p.outcome},${p.cause},${p.culpritLine ?? ''},${p.pinTs ?? ''},${p.walkTs ?? ''},${p.gap ?? ''}`,
    );
  }
  close(): void {
    this.req.close();
    this.pages.close();
  }
}

/** Keeps per-size request counts only (sweeps and the calibration test). */
export class TallyTruth implements TruthSink {
  /** npages -> [requests, failed (result != 0), -EBUSY, -ENOENT] */
  bySize = new Map<number, [number, number, number, number]>();
  pages = 0;
  failedPages = 0;
  request(r: RequestTruth): void {
    const t = this.bySize.get(r.npages) ?? [0, 0, 0, 0];
    t[0]++;
    if (r.result !== 0) t[1]++;
    if (r.result === -16) t[2]++;
    if (r.result === -2) t[3]++;
    this.bySize.set(r.npages, t);
  }
  page(p: PageTruth): void {
    this.pages++;
    if (p.outcome === 'failed') this.failedPages++;
  }
  close(): void {}
}
