/**
 * Triage of failed runs: listing them, reading one in full (spec, provenance, every error),
 * and putting FAILED runs back in the queue. The cores take a database so the CLI and a
 * dashboard can use their own pool; retry() uses the backend the run id names.
 */
import pg from "pg";
import { guarded, mapDatabaseError, type Queryable } from "../db/pool.js";
import { withTransaction } from "../db/transaction.js";
import { validateQueueName } from "../definition.js";
import { ConflictError, InvalidInputError, TaskResultNotFoundError } from "../errors.js";
import { parseRunId, type RunIdInput } from "../ids.js";
import { type TaskErrorRecord, TaskResult } from "../result.js";
import { getBackend } from "../runtime.js";
import { selectRunById } from "../sql/runs.js";
import { type RetryRow, type RetryTarget, retryFailed, selectFailedRuns } from "../sql/triage.js";
import type { TaskStatus } from "../status.js";
import { optionalName, wholeNumber } from "./input.js";
import { resultIdIn } from "./run-id.js";

export interface FailedRun {
  id: string;
  queue: string;
  taskName: string;
  attempts: number;
  maxAttempts: number;
  finishedAt: Date;
  lastError: string | null;
}

export interface FailedRunQuery {
  queue?: string;
  task?: string;
  /** Default 50. */
  limit?: number;
}

/** Everything recorded about one run, for `reproq triage show`. */
export interface RunDetail {
  id: string;
  taskName: string;
  queue: string;
  priority: number;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  timeoutSeconds: number;
  enqueuedAt: Date;
  runAfter: Date;
  startedAt: Date | null;
  lastAttemptedAt: Date | null;
  finishedAt: Date | null;
  expiresAt: Date | null;
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  workerIds: string[];
  workflowId: string | null;
  parentId: string | null;
  specHash: string;
  dedupKey: string | null;
  cancelRequested: boolean;
  lastError: string | null;
  logsUri: string | null;
  spec: Record<string, unknown>;
  provenance: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** The return value as stored (tagged JSON, see docs/payloads.md); null until SUCCESSFUL. */
  returnJson: unknown;
  errors: TaskErrorRecord[];
}

/** One run id, or every FAILED run of a task and/or queue, or all FAILED runs. */
export type RetrySelector = { id: RunIdInput } | { task?: string; queue?: string } | { all: true };

export interface RetryOutcome {
  /** Runs now READY again. */
  retried: string[];
  /** Runs left FAILED because an active run with the same spec exists: that run is the retry. */
  skipped: Array<{ id: string; activeId: string | null }>;
}

const DEFAULT_LIST_LIMIT = 50;
/** An enqueue may take a dedup key between our check and our update; trying again sees it. */
const RACE_RETRIES = 4;

/** FAILED runs, newest finished first. */
export async function listFailedRuns(
  db: Queryable,
  schema: string,
  query: FailedRunQuery = {},
): Promise<FailedRun[]> {
  const limit = wholeNumber(query.limit ?? DEFAULT_LIST_LIMIT, "limit");
  const queue = query.queue === undefined ? null : validateQueueName(query.queue, "listFailedRuns");
  const task = optionalName(query.task, "task");
  const rows = await guarded(schema, () => selectFailedRuns(db, schema, { queue, task, limit }));
  return rows.map((row) => ({
    id: row.result_id,
    queue: row.queue_name,
    taskName: row.task_path,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    finishedAt: row.finished_at,
    lastError: row.last_error,
  }));
}

/** The full record of one run; TaskResultNotFoundError when there is none. */
export async function getRunDetail(db: Queryable, schema: string, id: RunIdInput): Promise<RunDetail> {
  const resultId = resultIdIn(id);
  const row = await guarded(schema, () => selectRunById(db, schema, resultId));
  if (!row) throw new TaskResultNotFoundError(String(id));
  return {
    id: row.result_id,
    taskName: row.task_path,
    queue: row.queue_name,
    priority: row.priority,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutSeconds: row.timeout_seconds,
    enqueuedAt: row.enqueued_at,
    runAfter: row.run_after,
    startedAt: row.started_at,
    lastAttemptedAt: row.last_attempted_at,
    finishedAt: row.finished_at,
    expiresAt: row.expires_at,
    lockKey: row.lock_key,
    concurrencyKey: row.concurrency_key,
    concurrencyLimit: row.concurrency_limit,
    workerIds: row.worker_ids,
    workflowId: row.workflow_id,
    parentId: row.parent_id,
    specHash: row.spec_hash,
    dedupKey: row.dedup_key,
    cancelRequested: row.cancel_requested,
    lastError: row.last_error,
    logsUri: row.logs_uri,
    spec: row.spec_json,
    provenance: row.provenance_json,
    metadata: row.metadata_json,
    returnJson: row.return_json ?? null,
    errors: row.errors_json as TaskErrorRecord[],
  };
}

function targetOf(selector: RetrySelector): RetryTarget {
  const given = selector as { id?: RunIdInput; task?: string; queue?: string; all?: boolean };
  const byId = given.id !== undefined;
  const byFilter = given.task !== undefined || given.queue !== undefined;
  const all = given.all === true;
  if (Number(byId) + Number(byFilter) + Number(all) !== 1) {
    throw new InvalidInputError("retry: give exactly one of an id, a task and/or queue filter, or all");
  }
  if (given.id !== undefined) return { id: resultIdIn(given.id) };
  return {
    queue: given.queue === undefined ? null : validateQueueName(given.queue, "retry"),
    task: optionalName(given.task, "task"),
  };
}

function isDedupRace(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "23505";
}

/**
 * Puts FAILED runs back to READY (attempts from 0, due now, error history kept). Runs whose
 * spec is active again are skipped, not an error. With an id, a missing run is
 * TaskResultNotFoundError and a run that is not FAILED is ConflictError.
 */
export async function retryFailedRuns(
  db: Queryable,
  schema: string,
  selector: RetrySelector,
): Promise<RetryOutcome> {
  const target = targetOf(selector);
  const once = (c: Queryable) => retryFailed(c, schema, target);
  let rows: RetryRow[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      // Inside a caller's transaction a failed statement aborts it, so only our own can be retried.
      rows = db instanceof pg.Pool ? await withTransaction(db, once) : await once(db);
      break;
    } catch (error) {
      if (!(db instanceof pg.Pool) || attempt >= RACE_RETRIES || !isDedupRace(error)) {
        throw mapDatabaseError(error, schema);
      }
    }
  }
  if ("id" in target && rows.length === 0) {
    const row = await guarded(schema, () => selectRunById(db, schema, target.id));
    if (!row) throw new TaskResultNotFoundError(target.id);
    throw new ConflictError(`run ${target.id} is ${row.status}; only FAILED runs can be retried`);
  }
  return {
    retried: rows.filter((r) => !r.skipped).map((r) => r.result_id),
    skipped: rows.filter((r) => r.skipped).map((r) => ({ id: r.result_id, activeId: r.active_id })),
  };
}

/**
 * Retries one FAILED run and returns it, READY again. When the same spec is already active
 * in another run (it was enqueued again), that run is returned instead with `deduplicated`
 * true, as enqueue() would. A run that is not FAILED is a ConflictError.
 */
export async function retry(id: RunIdInput): Promise<TaskResult> {
  const parsed = parseRunId(id);
  const backend = getBackend(parsed.alias ?? undefined);
  const [pool, schema] = await Promise.all([backend.pool(), backend.schema()]);
  const outcome = await retryFailedRuns(pool, schema, { id: parsed.resultId });
  const skipped = outcome.skipped[0];
  const resultId = skipped?.activeId ?? parsed.resultId;
  return new TaskResult(await backend.fetchRow(resultId), backend, skipped !== undefined);
}
