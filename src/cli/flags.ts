/**
 * Parsing option values. A badly written flag value is a usage error (exit 2) like an
 * unknown option, whichever library function found the problem; the message names the flag.
 */
import { validateQueueName } from "../definition.js";
import { parseDuration } from "../duration.js";
import { InvalidInputError, UsageError } from "../errors.js";
import type { RunIdInput } from "../ids.js";
import { resultIdIn } from "../ops/run-id.js";

/** Re-throws InvalidInputError from `fn` as a UsageError naming `flag`. */
export function asUsage<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof InvalidInputError) {
      const message = error.message.startsWith(`${flag}:`) ? error.message : `${flag}: ${error.message}`;
      throw new UsageError(message, { cause: error });
    }
    throw error;
  }
}

/** A run id such as 42 (checked here so a typo is a usage error, not a lookup). */
export function runIdFlag(value: string, flag = "--id"): RunIdInput {
  asUsage(flag, () => resultIdIn(value));
  return value.trim();
}

/** A duration with a unit (10m, 2h); a bare number is refused because its unit would be a guess. */
export function durationFlag(value: string, flag: string): number {
  return asUsage(flag, () => parseDuration(value, { requireUnit: true, name: flag }));
}

/** A whole number >= 1. */
export function countFlag(value: string, flag: string): number {
  const text = value.trim();
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag}: "${value}" is not valid; give a whole number of at least 1`);
  }
  return n;
}

/** --queue must be a valid queue name and --task not empty: a typo is a usage error, not "no runs". */
export function checkFilter(opts: { queue?: string; task?: string }): void {
  if (opts.queue !== undefined) asUsage("--queue", () => validateQueueName(opts.queue, "--queue"));
  if (opts.task !== undefined && opts.task.trim() === "") throw new UsageError("--task: must not be empty");
}
