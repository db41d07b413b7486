/**
 * The worker's protocol with task_runs: claim, heartbeat, settle (success, retry, fail,
 * cancel, snooze, release) and the worker registry. Every write to a claimed run is fenced
 * by its lease_token, so a worker whose lease expired can never overwrite a re-claimed run.
 */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface ClaimedRunRow {
  result_id: string;
  task_path: string;
  queue_name: string;
  priority: number;
  args: unknown;
  attempts: number;
  max_attempts: number;
  timeout_seconds: number;
  lease_token: string;
  metadata_json: Record<string, unknown>;
  enqueued_at: Date;
  cancel_requested: boolean;
}

export interface QueueFilter {
  /** Exact queue names. */
  names: string[];
  /** LIKE patterns (translated from globs). */
  patterns: string[];
}

/**
 * Claims up to `limit` runs in one statement: READY, due, not expired, in a served and
 * unpaused queue, ordered by priority, then run_after, then id.
 */
export async function claimRuns(
  db: Queryable,
  schema: string,
  options: { workerId: string; limit: number; leaseMs: number; queues: QueueFilter },
): Promise<ClaimedRunRow[]> {
  const t = qualify(schema, "task_runs");
  const qc = qualify(schema, "queue_controls");
  const { names, patterns } = options.queues;
  const queueClause =
    patterns.length === 0
      ? names.length === 1
        ? "r.queue_name = $4"
        : "r.queue_name = ANY($4::text[])"
      : "(r.queue_name = ANY($4::text[]) OR r.queue_name LIKE ANY($5::text[]))";
  const params: unknown[] = [
    options.limit,
    options.workerId,
    options.leaseMs,
    names.length === 1 && patterns.length === 0 ? names[0] : names,
  ];
  if (patterns.length > 0) params.push(patterns);
  const result = await db.query<ClaimedRunRow>(
    `WITH picked AS (
       SELECT r.result_id FROM ${t} r
        WHERE r.status = 'READY' AND ${queueClause} AND r.run_after <= now()
          AND (r.expires_at IS NULL OR r.expires_at > now())
          AND NOT EXISTS (SELECT 1 FROM ${qc} c WHERE c.queue_name = r.queue_name AND c.paused)
        ORDER BY r.priority DESC, r.run_after, r.result_id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
     )
     UPDATE ${t} r
        SET status = 'RUNNING', attempts = r.attempts + 1, started_at = COALESCE(r.started_at, now()),
            last_attempted_at = now(), leased_by = $2, leased_until = now() + $3 * interval '1 millisecond',
            lease_token = gen_random_uuid(), worker_ids = array_append(r.worker_ids, $2), updated_at = now()
       FROM picked
      WHERE r.result_id = picked.result_id
   RETURNING r.result_id, r.task_path, r.queue_name, r.priority, r.spec_json->'args' AS args, r.attempts,
             r.max_attempts, r.timeout_seconds, r.lease_token, r.metadata_json, r.enqueued_at, r.cancel_requested`,
    params,
  );
  return result.rows;
}

export interface Fence {
  resultId: string;
  leaseToken: string;
}

/** Extends the leases of running runs; returns those still held, with their cancel flag. */
export async function heartbeatRuns(
  db: Queryable,
  schema: string,
  fences: readonly Fence[],
  leaseMs: number,
): Promise<Array<{ result_id: string; cancel_requested: boolean }>> {
  if (fences.length === 0) return [];
  const result = await db.query<{ result_id: string; cancel_requested: boolean }>(
    `UPDATE ${qualify(schema, "task_runs")}
        SET leased_until = now() + $3 * interval '1 millisecond', updated_at = now()
      WHERE result_id = ANY($1::bigint[]) AND lease_token = ANY($2::uuid[]) AND status = 'RUNNING'
   RETURNING result_id, cancel_requested`,
    [fences.map((f) => f.resultId), fences.map((f) => f.leaseToken), leaseMs],
  );
  return result.rows;
}

export interface SuccessRecord extends Fence {
  returnJson: string;
  /** New metadata JSON, or null to keep the stored value. */
  metadataJson: string | null;
  logsUri: string | null;
}

/** Marks runs SUCCESSFUL in one statement; returns the ids that were still held (the rest were lost). */
export async function completeRuns(
  db: Queryable,
  schema: string,
  records: readonly SuccessRecord[],
): Promise<string[]> {
  if (records.length === 0) return [];
  // `result_id = ANY($1)` keeps the plan on the primary key even when statistics say the table is empty.
  const result = await db.query<{ result_id: string }>(
    `UPDATE ${qualify(schema, "task_runs")} r
        SET status = 'SUCCESSFUL', finished_at = now(), return_json = u.ret::jsonb,
            metadata_json = COALESCE(u.meta::jsonb, r.metadata_json), logs_uri = COALESCE(u.logs, r.logs_uri),
            leased_by = NULL, leased_until = NULL, lease_token = NULL, last_error = NULL, updated_at = now()
       FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[]) AS u(id, token, ret, meta, logs)
      WHERE r.result_id = ANY($1::bigint[]) AND r.result_id = u.id AND r.lease_token = u.token AND r.status = 'RUNNING'
   RETURNING r.result_id`,
    [
      records.map((r) => r.resultId),
      records.map((r) => r.leaseToken),
      records.map((r) => r.returnJson),
      records.map((r) => r.metadataJson),
      records.map((r) => r.logsUri),
    ],
  );
  return result.rows.map((r) => r.result_id);
}

export type FailureOutcome =
  /** Back to READY after `delayMs`; the attempt counts. */
  | { kind: "retry"; delayMs: number }
  /** FAILED for good. */
  | { kind: "fail" }
  /** CANCELLED (cancel requested while running). */
  | { kind: "cancel" }
  /** Back to READY after `delayMs` without using an attempt (snooze). */
  | { kind: "snooze"; delayMs: number }
  /** Back to READY at once without using an attempt (shutdown released the run). */
  | { kind: "release" };

export interface FailureRecord extends Fence {
  outcome: FailureOutcome;
  /** Error object appended to errors_json, or null to append nothing. */
  errorJson: string | null;
  lastError: string | null;
  metadataJson: string | null;
  logsUri: string | null;
}

/** Settles one failed (or released) attempt; returns false when the lease was no longer held. */
export async function settleFailure(db: Queryable, schema: string, record: FailureRecord): Promise<boolean> {
  const { outcome } = record;
  const status = outcome.kind === "fail" ? "FAILED" : outcome.kind === "cancel" ? "CANCELLED" : "READY";
  const delayMs = outcome.kind === "retry" || outcome.kind === "snooze" ? outcome.delayMs : 0;
  const refund = outcome.kind === "snooze" || outcome.kind === "release" ? 1 : 0;
  const final = status !== "READY";
  const result = await db.query(
    `UPDATE ${qualify(schema, "task_runs")} r
        SET status = $3, attempts = r.attempts - $4,
            run_after = CASE WHEN $5::boolean THEN r.run_after ELSE now() + $6 * interval '1 millisecond' END,
            finished_at = CASE WHEN $5::boolean THEN now() ELSE NULL END,
            errors_json = CASE WHEN $7::text IS NULL THEN r.errors_json ELSE r.errors_json || jsonb_build_array($7::jsonb) END,
            last_error = COALESCE($8::text, r.last_error),
            metadata_json = COALESCE($9::jsonb, r.metadata_json), logs_uri = COALESCE($10::text, r.logs_uri),
            leased_by = NULL, leased_until = NULL, lease_token = NULL, updated_at = now()
      WHERE r.result_id = $1 AND r.lease_token = $2 AND r.status = 'RUNNING'`,
    [
      record.resultId,
      record.leaseToken,
      status,
      refund,
      final,
      Math.round(delayMs),
      record.errorJson,
      record.lastError,
      record.metadataJson,
      record.logsUri,
    ],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Saves a running run's metadata (TaskContext.saveMetadata). */
export async function saveRunMetadata(
  db: Queryable,
  schema: string,
  fence: Fence,
  metadataJson: string,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${qualify(schema, "task_runs")} SET metadata_json = $3::jsonb, updated_at = now()
      WHERE result_id = $1 AND lease_token = $2 AND status = 'RUNNING'`,
    [fence.resultId, fence.leaseToken, metadataJson],
  );
  return (result.rowCount ?? 0) > 0;
}

export interface WorkerRecord {
  workerId: string;
  hostname: string;
  pid: number;
  version: string;
  queues: string[];
  concurrency: number;
  metadata: Record<string, unknown>;
}

export async function registerWorker(db: Queryable, schema: string, worker: WorkerRecord): Promise<void> {
  await db.query(
    `INSERT INTO ${qualify(schema, "workers")} (worker_id, hostname, pid, version, queues, concurrency, metadata_json)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (worker_id) DO UPDATE
       SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, version = EXCLUDED.version, queues = EXCLUDED.queues,
           concurrency = EXCLUDED.concurrency, metadata_json = EXCLUDED.metadata_json, started_at = now(), last_seen_at = now()`,
    [
      worker.workerId,
      worker.hostname,
      worker.pid,
      worker.version,
      worker.queues,
      worker.concurrency,
      JSON.stringify(worker.metadata),
    ],
  );
}

export async function touchWorker(db: Queryable, schema: string, workerId: string): Promise<void> {
  await db.query(`UPDATE ${qualify(schema, "workers")} SET last_seen_at = now() WHERE worker_id = $1`, [
    workerId,
  ]);
}

export async function unregisterWorker(db: Queryable, schema: string, workerId: string): Promise<void> {
  await db.query(`DELETE FROM ${qualify(schema, "workers")} WHERE worker_id = $1`, [workerId]);
}
