/**
 * What a worker tells the world about its runs: it counts every claim and outcome by queue and
 * task (status.ts) and emits the matching typed event (events.ts). Events whose payload costs
 * something to build (started, succeeded, claimed) are only built when someone listens, since a
 * worker starts thousands of runs a second.
 */
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { ClaimedRunRow } from "../sql/worker.js";
import type { AttemptEnd } from "./attempt.js";
import type { RunEvent, WorkerEvents, WorkerState } from "./events.js";
import type { Classified } from "./outcome.js";
import { Counters, type RunCounter } from "./status.js";

/** The counter a failed attempt's outcome bumps (a release is not an outcome of the run). */
const COUNTER_OF: Record<Classified["outcome"]["kind"], RunCounter | null> = {
  retry: "retried",
  fail: "failed",
  cancel: "cancelled",
  snooze: "snoozed",
  release: null,
};

type RunKey = { queue_name: string; task_path: string };

export class Reporter {
  readonly counters = new Counters();
  rateLimitWaits = 0;
  #events = new EventEmitter<WorkerEvents>();
  #workerId: string;
  #log: Logger;
  /** One log line per run start and outcome, at info (checked once: a worker starts thousands a second). */
  #logRuns: boolean;

  constructor(workerId: string, log: Logger) {
    this.#workerId = workerId;
    this.#log = log;
    this.#logRuns = log.isLevelEnabled("info");
  }

  #runFields(row: ClaimedRunRow): Record<string, unknown> {
    return {
      id: row.result_id,
      task: row.task_path,
      queue: row.queue_name,
      attempt: `${row.attempts}/${row.max_attempts}`,
    };
  }

  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): void {
    this.#events.on(event, listener as never);
  }

  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): void {
    this.#events.off(event, listener as never);
  }

  #emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): void {
    if (this.#events.listenerCount(event) === 0) return;
    try {
      // EventEmitter's typed emit cannot follow a generic event key; WorkerEvents keeps callers typed.
      (this.#events.emit as (name: string, ...rest: unknown[]) => boolean).call(this.#events, event, ...args);
    } catch (error) {
      this.#log.warn({ err: error, event }, "a worker event listener threw");
    }
  }

  #wants(event: keyof WorkerEvents): boolean {
    return this.#events.listenerCount(event) > 0;
  }

  #count(counter: RunCounter | null, row: RunKey): void {
    if (counter) this.counters.bump(counter, row.queue_name, row.task_path);
  }

  #runEvent(row: ClaimedRunRow): RunEvent {
    return {
      id: row.result_id,
      taskName: row.task_path,
      queue: row.queue_name,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      workerId: this.#workerId,
    };
  }

  claimed(rows: readonly ClaimedRunRow[]): void {
    for (const row of rows) this.#count("claimed", row);
    if (this.#wants("claimed")) for (const row of rows) this.#emit("claimed", this.#runEvent(row));
  }

  started(row: ClaimedRunRow): void {
    if (this.#logRuns) this.#log.info(this.#runFields(row), "run started");
    if (this.#wants("started"))
      this.#emit("started", {
        ...this.#runEvent(row),
        waitedMs: Math.max(0, Math.round(Date.now() - row.run_after_ms)),
      });
  }

  /** Another worker or an operator took the run back while this worker held it. */
  leaseLost(row: ClaimedRunRow): void {
    this.#count("leaseLost", row);
    this.#emit("lease-lost", this.#runEvent(row));
  }

  /** An attempt ended (its record is queued for the settler, unless the lease was lost). */
  ended(row: ClaimedRunRow, end: AttemptEnd, durationMs: number): void {
    if (end.kind === "lost") {
      this.leaseLost(row);
      return;
    }
    if (end.kind === "success") {
      if (this.#logRuns) this.#log.info({ ...this.#runFields(row), durationMs }, "run succeeded");
      this.#count("succeeded", row);
      if (this.#wants("succeeded"))
        this.#emit("succeeded", { ...this.#runEvent(row), returnValue: end.returnValue, durationMs });
      return;
    }
    const { outcome, record } = end.classified;
    this.#count(COUNTER_OF[outcome.kind], row);
    this.#logOutcome(row, end.classified, durationMs);
    if (outcome.kind === "retry" && record)
      this.#emit("retrying", { ...this.#runEvent(row), error: record, delayMs: outcome.delayMs, durationMs });
    else if (outcome.kind === "fail" && record)
      this.#emit("failed", { ...this.#runEvent(row), error: record, durationMs });
    else if (outcome.kind === "cancel") this.#emit("cancelled", { ...this.#runEvent(row), durationMs });
    else if (outcome.kind === "snooze")
      this.#emit("snoozed", { ...this.#runEvent(row), delayMs: outcome.delayMs });
  }

  #logOutcome(row: ClaimedRunRow, { outcome, record }: Classified, durationMs: number): void {
    if (outcome.kind === "release") return;
    const fields = {
      ...this.#runFields(row),
      durationMs,
      ...(record ? { error: record.message, kind: record.kind } : {}),
    };
    if (outcome.kind === "retry")
      this.#log.warn({ ...fields, retryInMs: outcome.delayMs }, "run failed; retrying");
    else if (outcome.kind === "fail") this.#log.error(fields, "run failed");
    else if (this.#logRuns && outcome.kind === "cancel") this.#log.info(fields, "run cancelled");
    else if (this.#logRuns && outcome.kind === "snooze")
      this.#log.info({ ...fields, snoozeMs: outcome.delayMs }, "run snoozed");
  }

  /** A run this worker's maintenance or claim loop moved (a reclaimed lease, an expired run). */
  maintained(what: "reclaimed" | "expired", run: RunKey & { result_id: string }, status: string): void {
    this.#count(what, run);
    this.#emit(what, { id: run.result_id, taskName: run.task_path, queue: run.queue_name, status });
  }

  rateLimited(retryAfterMs: number): void {
    this.rateLimitWaits++;
    this.#emit("rate-limited", { retryAfterMs, workerId: this.#workerId });
  }

  state(state: WorkerState): void {
    this.#emit("state", { state, workerId: this.#workerId });
  }
}
