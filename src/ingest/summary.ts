// What ingest tells of each file it read (the `files` table's row), apart from the ingest driver so
// that the text parser's worker builds one without loading the database client.
import type { ProbeRow } from '../parse/probes.js';
import type { TraceFormat } from '../parse/record.js';
import type { BinaryKind } from './binary-parse.js';

export interface FileSummary {
  fileId: number;
  path: string;
  format: TraceFormat | BinaryKind;
  compression: string;
  lines: number;
  headerLines: number;
  bytes: number;
  events: number;
  filtered: number;
  unparsed: number;
  lost: number;
  metadata: Record<string, unknown>;
  /** Each kprobe event of the file and the function it probes (the `probes` table). */
  probes: ProbeRow[];
}

/** A file's summary before any of it is read. */
export function newSummary(
  fileId: number,
  path: string,
  format: FileSummary['format'],
  compression: string,
  bytes: number,
): FileSummary {
  return {
    fileId,
    path,
    format,
    compression,
    lines: 0,
    headerLines: 0,
    bytes,
    events: 0,
    filtered: 0,
    unparsed: 0,
    lost: 0,
    metadata: {},
    probes: [],
  };
}
