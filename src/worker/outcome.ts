/**
 * What a failed attempt means for its run: retry (with which delay), fail, cancel, snooze or
 * release, and the error record kept for it. Pure: no database, no clock but the one passed in,
 * so every rule here is unit-tested on its own.
 */
import { inspect } from "node:util";
import type { TaskDefinition } from "../definition.js";
import { parseDuration } from "../duration.js";
import type { FailureOutcome } from "../sql/worker.js";
import { type BackoffPolicy, retryDelayMs } from "./backoff.js";
import { NonRetryableError, RunAborted, SnoozeSignal } from "./control.js";
import type { ErrorRecord } from "./events.js";

/** A run that cannot be executed at all (unknown task, not allowed, bad payload or return value): never retried. */
export class UnrunnableTask extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = "UnrunnableTask";
    this.kind = kind;
  }
}

export interface AttemptFacts {
  /** The attempt that failed (1 for the first). */
  attempts: number;
  max_attempts: number;
}

export interface ClassifyContext {
  workerId: string;
  /** The worker's default retry policy; a task's own `retry` option overrides parts of it. */
  backoff: BackoffPolicy;
  /** The run's task, when this worker has it registered. */
  definition: TaskDefinition | undefined;
  now: Date;
  /** For the retry delay's jitter (default Math.random). */
  random?: () => number;
}

export interface Classified {
  outcome: FailureOutcome;
  /** Appended to the run's errors_json; null when the attempt is not an error (snooze, release). */
  record: ErrorRecord | null;
}

/** The retry policy for a task: its own `retry` option, else the worker's. */
export function taskBackoff(definition: TaskDefinition | undefined, fallback: BackoffPolicy): BackoffPolicy {
  const retry = definition?.options.retry;
  if (!retry) return fallback;
  return {
    baseMs: retry.base !== undefined ? parseDuration(retry.base) : fallback.baseMs,
    capMs: retry.cap !== undefined ? parseDuration(retry.cap) : fallback.capMs,
    jitter: retry.jitter ?? fallback.jitter,
  };
}

/** A non-Error thrown in a child process, carried to the worker as its printed form. */
export class ThrownValue {
  readonly className: string | null;
  readonly text: string;
  constructor(className: string | null, text: string) {
    this.className = className;
    this.text = text;
  }
}

/**
 * A faithful message for anything thrown: an Error's message; a string as it is; anything else
 * (`throw { code: 42 }`) as it would print, never "[object Object]".
 */
export function describeThrown(thrown: unknown): {
  class: string | null;
  message: string;
  stack: string | null;
} {
  if (thrown instanceof Error) {
    return {
      class: thrown.constructor?.name || thrown.name,
      message: thrown.message,
      stack: thrown.stack ?? null,
    };
  }
  if (thrown instanceof ThrownValue) return { class: thrown.className, message: thrown.text, stack: null };
  if (typeof thrown === "string") return { class: "string", message: thrown, stack: null };
  const kind = thrown === null ? "null" : typeof thrown;
  const className =
    kind === "object"
      ? (Object.getPrototypeOf(thrown)?.constructor?.name as string | undefined) || "Object"
      : kind;
  return {
    class: className,
    message: inspect(thrown, { depth: 4, breakLength: Number.POSITIVE_INFINITY, maxStringLength: 2000 }),
    stack: null,
  };
}

export function classifyFailure(run: AttemptFacts, error: unknown, context: ClassifyContext): Classified {
  const record = (kind: string): ErrorRecord => ({
    kind,
    ...describeThrown(error),
    attempt: run.attempts,
    worker: context.workerId,
    at: context.now.toISOString(),
  });
  const retryOrFail = (kind: string): Classified => {
    if (run.attempts < run.max_attempts) {
      const policy = taskBackoff(context.definition, context.backoff);
      return {
        outcome: { kind: "retry", delayMs: retryDelayMs(run.attempts, policy, context.random) },
        record: record(kind),
      };
    }
    return { outcome: { kind: "fail" }, record: record(kind) };
  };
  if (error instanceof RunAborted) {
    switch (error.reason) {
      case "timeout":
        return retryOrFail("timeout");
      case "cancelled":
        return { outcome: { kind: "cancel" }, record: record("cancelled") };
      default:
        // Shutdown or a lost lease: the run goes back without using an attempt, and is no error.
        return { outcome: { kind: "release" }, record: null };
    }
  }
  if (error instanceof SnoozeSignal)
    return { outcome: { kind: "snooze", delayMs: error.delayMs }, record: null };
  if (error instanceof UnrunnableTask) return { outcome: { kind: "fail" }, record: record(error.kind) };
  if (error instanceof NonRetryableError) {
    // Errors rebuilt from a child process carry the kind the child determined (unknown_task, bad_return ...).
    const kind = (error as NonRetryableError & { kind?: unknown }).kind;
    return { outcome: { kind: "fail" }, record: record(typeof kind === "string" ? kind : "non_retryable") };
  }
  return retryOrFail("exception");
}
