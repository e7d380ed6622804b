import { InputError } from '../errors.js';

/** An input problem, located in a file by line number (1-based) or byte offset. */
export class TraceInputError extends InputError {
  constructor(
    readonly path: string,
    readonly line: number | null,
    readonly problem: string,
    readonly byteOffset?: number,
  ) {
    const where =
      byteOffset !== undefined
        ? `${path}: byte ${byteOffset}`
        : line !== null
          ? `${path}:${line}`
          : path;
    super(`${where}: ${problem}`);
    this.name = 'TraceInputError';
  }
}
