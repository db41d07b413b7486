/**
 * TaskResult: a run as the producer sees it. It wraps one task_runs row; refresh() reloads it
 * and wait() resolves when the run reaches a final status (woken by NOTIFY, not a tight poll).
 */
import { decodeArgs, decodeValue, type JsonValue } from "./codec/tagged.js";
import { ResultUnavailableError } from "./errors.js";
import type { TaskRunRow } from "./sql/runs.js";
import { isFinalStatus, type TaskStatus } from "./status.js";

/** One failed attempt (or a failure recorded outside an attempt, such as a lease expiry). */
export interface TaskErrorRecord {
  /** e.g. "exception", "timeout", "cancelled", "lease_expired", "unknown_task", "not_allowed". */
  kind: string;
  /** Error class name, e.g. "TypeError". */
  class?: string | null;
  message: string;
  stack?: string | null;
  attempt?: number | null;
  worker?: string | null;
  /** ISO time the error was recorded. */
  at?: string | null;
}

/** Where a TaskResult reloads itself from (the backend that created it). */
export interface ResultSource {
  readonly alias: string;
  /** Prefix public ids with the database alias. */
  readonly aliasIds: boolean;
  fetchRow(resultId: string): Promise<TaskRunRow>;
  waitForFinish(
    resultId: string,
    timeoutMs: number | undefined,
    check: () => Promise<boolean>,
  ): Promise<void>;
}

export interface WaitOptions {
  /** Give up after this many milliseconds (WaitTimeoutError); default: wait indefinitely. */
  timeout?: number;
}

export class TaskResult<R = unknown> {
  #row: TaskRunRow;
  #source: ResultSource;
  #decodedArgs: unknown[] | undefined;
  #decodedReturn: { value: unknown } | undefined;
  /** True when this enqueue returned an existing active run with the same spec instead of creating one. */
  readonly deduplicated: boolean;

  constructor(row: TaskRunRow, source: ResultSource, deduplicated = false) {
    this.#row = row;
    this.#source = source;
    this.deduplicated = deduplicated;
  }

  get id(): string {
    return this.#source.aliasIds ? `${this.#source.alias}:${this.#row.result_id}` : this.#row.result_id;
  }
  /** The numeric result_id without any alias prefix. */
  get resultId(): string {
    return this.#row.result_id;
  }
  get databaseAlias(): string {
    return this.#source.alias;
  }
  get taskName(): string {
    return this.#row.task_path;
  }
  get queue(): string {
    return this.#row.queue_name;
  }
  get priority(): number {
    return this.#row.priority;
  }
  get status(): TaskStatus {
    return this.#row.status;
  }
  get isFinished(): boolean {
    return isFinalStatus(this.#row.status);
  }
  /** The decoded arguments, exactly as given to enqueue. */
  get args(): unknown[] {
    this.#decodedArgs ??= decodeArgs((this.#row.spec_json.args ?? []) as JsonValue);
    return this.#decodedArgs;
  }
  get enqueuedAt(): Date {
    return this.#row.enqueued_at;
  }
  get runAfter(): Date {
    return this.#row.run_after;
  }
  get startedAt(): Date | null {
    return this.#row.started_at;
  }
  get lastAttemptedAt(): Date | null {
    return this.#row.last_attempted_at;
  }
  get finishedAt(): Date | null {
    return this.#row.finished_at;
  }
  get expiresAt(): Date | null {
    return this.#row.expires_at;
  }
  get attempts(): number {
    return this.#row.attempts;
  }
  get maxAttempts(): number {
    return this.#row.max_attempts;
  }
  get timeoutSeconds(): number {
    return this.#row.timeout_seconds;
  }
  get lockKey(): string | null {
    return this.#row.lock_key;
  }
  get concurrencyKey(): string | null {
    return this.#row.concurrency_key;
  }
  get concurrencyLimit(): number {
    return this.#row.concurrency_limit;
  }
  get workerIds(): string[] {
    return this.#row.worker_ids;
  }
  get errors(): TaskErrorRecord[] {
    return this.#row.errors_json as TaskErrorRecord[];
  }
  get lastError(): string | null {
    return this.#row.last_error;
  }
  get metadata(): Record<string, unknown> {
    return this.#row.metadata_json;
  }
  get provenance(): Record<string, unknown> {
    return this.#row.provenance_json;
  }
  get spec(): Record<string, unknown> {
    return this.#row.spec_json;
  }
  get specHash(): string {
    return this.#row.spec_hash;
  }
  get workflowId(): string | null {
    return this.#row.workflow_id;
  }
  get parentId(): string | null {
    return this.#row.parent_id;
  }
  get cancelRequested(): boolean {
    return this.#row.cancel_requested;
  }
  get logsUri(): string | null {
    return this.#row.logs_uri;
  }

  /** The decoded return value. Throws ResultUnavailableError unless the run is SUCCESSFUL. */
  get returnValue(): R {
    if (this.#row.status !== "SUCCESSFUL") {
      const last = this.errors.at(-1);
      throw new ResultUnavailableError(
        this.id,
        this.#row.status,
        last ? `last error: ${last.message}` : undefined,
      );
    }
    this.#decodedReturn ??= {
      value: decodeValue((this.#row.return_json ?? null) as JsonValue, "returnValue"),
    };
    return this.#decodedReturn.value as R;
  }

  /** Reloads the run from the database. */
  async refresh(): Promise<this> {
    const row = await this.#source.fetchRow(this.#row.result_id);
    if (row !== this.#row) {
      this.#row = row;
      this.#decodedArgs = undefined;
      this.#decodedReturn = undefined;
    }
    return this;
  }

  /** Resolves when the run is SUCCESSFUL, FAILED, CANCELLED or EXPIRED; rejects with WaitTimeoutError. */
  async wait(options: WaitOptions = {}): Promise<this> {
    if (this.isFinished) return this;
    await this.#source.waitForFinish(this.#row.result_id, options.timeout, async () => {
      await this.refresh();
      return this.isFinished;
    });
    return this;
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      taskName: this.taskName,
      queue: this.queue,
      priority: this.priority,
      status: this.status,
      args: this.#row.spec_json.args,
      enqueuedAt: this.enqueuedAt,
      runAfter: this.runAfter,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      attempts: this.attempts,
      maxAttempts: this.maxAttempts,
      workerIds: this.workerIds,
      return: this.#row.return_json ?? null,
      errors: this.errors,
      metadata: this.metadata,
      specHash: this.specHash,
      workflowId: this.workflowId,
    };
  }
}
