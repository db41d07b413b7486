/**
 * Typed errors. Every failure Reproq reports is a ReproqError with a stable `code`;
 * the CLI maps `exitCode` to its exit status and prints `message` as one line.
 */

export type ReproqErrorCode =
  | "CONFIG"
  | "USAGE"
  | "CONNECTION"
  | "SCHEMA"
  | "INVALID_INPUT"
  | "PAYLOAD"
  | "NOT_FOUND"
  | "CONFLICT"
  | "TIMEOUT"
  | "RESULT_UNAVAILABLE";

export class ReproqError extends Error {
  readonly code: ReproqErrorCode;
  /** Exit status the CLI uses for this error: 2 for usage/configuration, 1 otherwise. */
  readonly exitCode: 1 | 2;

  constructor(code: ReproqErrorCode, message: string, options?: { cause?: unknown; exitCode?: 1 | 2 }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** A setting is missing, unknown or of the wrong type (exit 2). */
export class ConfigError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG", message, { ...options, exitCode: 2 });
  }
}

/** The command line was used wrongly (exit 2). */
export class UsageError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("USAGE", message, { ...options, exitCode: 2 });
  }
}

/** PostgreSQL could not be reached or the connection broke. */
export class ConnectionError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONNECTION", message, options);
  }
}

/** The database schema is missing, behind or ahead of this package. */
export class SchemaError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("SCHEMA", message, options);
  }
}

/** An argument or option given to the API is invalid. */
export class InvalidInputError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_INPUT", message, options);
  }
}

/** A payload value cannot be encoded (or decoded); `path` names the bad value, e.g. `args[1].user.save`. */
export class PayloadError extends ReproqError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super("PAYLOAD", `${path}: ${message}`, options);
    this.path = path;
  }
}

/** No task run has the given id. */
export class TaskResultNotFoundError extends ReproqError {
  readonly id: string;
  constructor(id: string) {
    super("NOT_FOUND", `task run ${id} does not exist`);
    this.id = id;
  }
}

/** No schedule has the given name. */
export class ScheduleNotFoundError extends ReproqError {
  readonly scheduleName: string;
  constructor(name: string) {
    super("NOT_FOUND", `no schedule named "${name}"; reproq schedules list shows every schedule`);
    this.scheduleName = name;
  }
}

/** The operation conflicts with the current state of a row. */
export class ConflictError extends ReproqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFLICT", message, options);
  }
}

/** `TaskResult.wait()` gave up before the run reached a final status. */
export class WaitTimeoutError extends ReproqError {
  readonly id: string;
  readonly lastStatus: string;
  constructor(id: string, timeoutMs: number, lastStatus: string) {
    super("TIMEOUT", `task run ${id} did not finish within ${timeoutMs} ms (status ${lastStatus})`);
    this.id = id;
    this.lastStatus = lastStatus;
  }
}

/** `returnValue` was read on a run that did not succeed. */
export class ResultUnavailableError extends ReproqError {
  readonly id: string;
  readonly status: string;
  constructor(id: string, status: string, detail?: string) {
    super(
      "RESULT_UNAVAILABLE",
      `task run ${id} has status ${status}; its return value is only available when SUCCESSFUL${detail ? ` (${detail})` : ""}`,
    );
    this.id = id;
    this.status = status;
  }
}

/**
 * The error with `where` (e.g. `item 3 task "emails.send"`) in front of its message, so a failure
 * deep in encoding or a key function still names the item it came from. A ReproqError keeps its
 * class, code and path (its message gains the prefix once); anything else becomes an
 * InvalidInputError with the original as its cause.
 */
export function errorWithin(error: unknown, where: string): Error {
  if (error instanceof ReproqError) {
    if (!error.message.startsWith(where)) {
      const message = `${where}: ${error.message}`;
      if (error.stack) error.stack = error.stack.replace(error.message, () => message);
      error.message = message;
    }
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InvalidInputError(`${where}: ${message}`, { cause: error });
}
