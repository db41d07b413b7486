/**
 * What a worker tells its listeners (`worker.on(...)`), as public typed objects. The worker's
 * HTTP endpoints and the terminal UI read these, never the worker's private state.
 */

/** The run an event is about. */
export interface RunEvent {
  id: string;
  taskName: string;
  queue: string;
  attempt: number;
  maxAttempts: number;
  workerId: string;
}

/** One failed attempt, as appended to the run's errors_json. */
export interface ErrorRecord {
  kind: string;
  class: string | null;
  message: string;
  stack: string | null;
  attempt: number;
  worker: string;
  at: string;
}

/** A run that maintenance in this worker moved: a lease it reclaimed, or a run that expired unstarted. */
export interface MaintainedRun {
  id: string;
  taskName: string;
  queue: string;
  /** The status it has now (READY, FAILED or CANCELLED after a reclaim; EXPIRED). */
  status: string;
}

export type WorkerState = "running" | "stopping" | "stopped";

export type WorkerEvents = {
  /** Claimed into this worker (buffered until a slot is free). */
  claimed: [run: RunEvent];
  /** `waitedMs`: from when the run was due (its enqueue, unless delayed or retried) to this start. */
  started: [run: RunEvent & { waitedMs: number }];
  /** `durationMs` in the outcome events: how long the attempt ran (0 when it never started). */
  succeeded: [run: RunEvent & { returnValue: unknown; durationMs: number }];
  retrying: [run: RunEvent & { error: ErrorRecord; delayMs: number; durationMs: number }];
  failed: [run: RunEvent & { error: ErrorRecord; durationMs: number }];
  cancelled: [run: RunEvent & { durationMs: number }];
  /** Snoozed by its handler: back to READY after delayMs without using an attempt. */
  snoozed: [run: RunEvent & { delayMs: number }];
  /** Another worker (or an operator) owns the run now; this worker's outcome is discarded. */
  "lease-lost": [run: RunEvent];
  /** This worker's maintenance pass reclaimed an expired lease of some worker. */
  reclaimed: [run: MaintainedRun];
  /** This worker's maintenance pass expired a run that did not start in time. */
  expired: [run: MaintainedRun];
  /** A claim found the queue's rate limit exhausted; the worker claims again in retryAfterMs. */
  "rate-limited": [wait: { retryAfterMs: number; workerId: string }];
  /** The worker changed state (stop() was called, or it finished stopping). */
  state: [change: { state: WorkerState; workerId: string }];
};
