/**
 * What a handler can throw to steer its run: NonRetryableError fails it at once,
 * snooze() re-runs it later without using an attempt.
 */
import { type Duration, parseDuration } from "../duration.js";

/** Fails the run for good, whatever attempts remain. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/** Thrown by snooze(); the worker re-queues the run after `delayMs` and refunds the attempt. */
export class SnoozeSignal extends Error {
  readonly delayMs: number;
  constructor(delayMs: number) {
    super(`snoozed for ${delayMs} ms`);
    this.name = "SnoozeSignal";
    this.delayMs = delayMs;
  }
}

/** Re-runs this task after `delay` without counting the attempt: `throw snooze("30s")` or just `snooze("30s")`. */
export function snooze(delay: Duration): never {
  throw new SnoozeSignal(parseDuration(delay, { name: "snooze" }));
}

/** Why a run's AbortSignal fired. */
export type AbortCause = "timeout" | "cancelled" | "shutdown" | "lease_lost";

export class RunAborted extends Error {
  readonly reason: AbortCause;
  constructor(reason: AbortCause, message: string) {
    super(message);
    this.name = "RunAborted";
    this.reason = reason;
  }
}
