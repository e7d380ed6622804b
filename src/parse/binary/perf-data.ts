// perf.data (PERFILE2): not read yet.
import type { BinaryFile } from './bytes.js';
import type { TracingData } from './tracing-data.js';
import type { BinaryCursor } from '../../ingest-binary.js';

export const PERF_MAGIC = Buffer.from('PERFILE2');

export interface PerfFile {
  littleEndian: boolean;
  td: TracingData;
  metadata: Record<string, unknown>;
  cursor(): BinaryCursor;
}

export function readPerf(file: BinaryFile): PerfFile {
  file.fail(0, 'perf.data is not read yet');
}
