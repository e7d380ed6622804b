// One error class per failure class, each with the exit code the CLI gives it (README: 0 ok,
// 1 unusable input, 2 bad usage, 3 internal error). Anything else thrown is an internal error.

/** An error the user can act on: its message says what was wrong and where. */
export abstract class MmreplayError extends Error {
  abstract readonly exitCode: 1 | 2;
}

/** Input the tool cannot use: a trace, a sidecar, a format file. */
export class InputError extends MmreplayError {
  readonly exitCode = 1 as const;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InputError';
  }
}

/** A database that is missing, not made by mmreplay, or lacking what the command reads. */
export class DatabaseError extends MmreplayError {
  readonly exitCode = 1 as const;
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'DatabaseError';
  }
}

/** A command line that asks for something impossible (options, arguments, paths to write). */
export class UsageError extends MmreplayError {
  readonly exitCode = 2 as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A bug met while replaying an event: an internal error (exit 3), but it still names the event's
 * file and line, so the report can say which input shows it.
 */
export class ReplayCrash extends Error {
  constructor(
    readonly where: string,
    readonly event: string,
    cause: unknown,
  ) {
    super(`${where}: ${event}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ReplayCrash';
    const stack = (cause as Error)?.stack;
    if (stack) this.stack = `${this.name}: ${this.message}\n${stack}`;
  }
}
