/**
 * Queries for triage of finished runs: listing failures, putting FAILED runs back in the
 * queue, and replaying a finished run as a new one.
 */

import { channelName, qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import type { TaskRunRow } from "./runs.js";

const ACTIVE = "'READY','RUNNING','WAITING'";
const FINAL = "'SUCCESSFUL','FAILED','CANCELLED','EXPIRED'";

export interface FailedRunRow {
  result_id: string;
  queue_name: string;
  task_path: string;
  attempts: number;
  max_attempts: number;
  finished_at: Date;
  last_error: string | null;
}

export interface FailedRunFilter {
  queue: string | null;
  task: string | null;
  limit: number;
}

/** FAILED runs, newest finished first (the finished-runs index serves the order). */
export async function selectFailedRuns(
  db: Queryable,
  schema: string,
  filter: FailedRunFilter,
): Promise<FailedRunRow[]> {
  const result = await db.query<FailedRunRow>(
    `SELECT result_id, queue_name, task_path, attempts, max_attempts, finished_at, last_error
       FROM ${qualify(schema, "task_runs")}
      WHERE status = 'FAILED'
        AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR task_path = $2)
      ORDER BY finished_at DESC, result_id DESC
      LIMIT $3`,
    [filter.queue, filter.task, filter.limit],
  );
  return result.rows;
}

/** Which FAILED runs to retry: one id, or every one matching the (possibly empty) filter. */
export type RetryTarget = { id: string } | { queue: string | null; task: string | null };

export interface RetryRow {
  result_id: string;
  /** Whether the run was left FAILED because its spec is (or is about to be) active in another run. */
  skipped: boolean;
  /** For a skipped run, the active run holding its dedup key. */
  active_id: string | null;
}

/**
 * Moves FAILED runs back to READY in one statement: attempts reset, due now, the lease,
 * cancel flag and last error cleared, errors_json kept as history. The dedup index allows
 * one active run per key, so a run whose key is active again is skipped (reported with its
 * active twin), and of several FAILED runs sharing a key only the newest is retried.
 * A deadline that already passed is dropped, or the expiry pass would end the run at once.
 */
export async function retryFailed(db: Queryable, schema: string, target: RetryTarget): Promise<RetryRow[]> {
  const t = qualify(schema, "task_runs");
  const byId = "id" in target;
  const where = byId
    ? "result_id = $1::bigint"
    : "($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR task_path = $2)";
  const params = byId ? [target.id] : [target.queue, target.task];
  const result = await db.query<RetryRow>(
    `WITH target AS MATERIALIZED (
       SELECT result_id, dedup_key FROM ${t} WHERE status = 'FAILED' AND ${where} FOR UPDATE
     ), ranked AS MATERIALIZED (
       SELECT target.result_id, target.dedup_key,
              (SELECT a.result_id FROM ${t} a
                WHERE a.dedup_key = target.dedup_key AND a.status IN (${ACTIVE}) LIMIT 1) AS active_id,
              row_number() OVER (PARTITION BY target.dedup_key ORDER BY target.result_id DESC) AS rank,
              first_value(target.result_id) OVER (PARTITION BY target.dedup_key ORDER BY target.result_id DESC) AS newest
         FROM target
     ), decided AS MATERIALIZED (
       SELECT result_id,
              dedup_key IS NOT NULL AND (active_id IS NOT NULL OR rank > 1) AS skipped,
              CASE WHEN dedup_key IS NULL THEN NULL
                   WHEN active_id IS NOT NULL THEN active_id
                   WHEN rank > 1 THEN newest END AS active_id
         FROM ranked
     ), updated AS (
       UPDATE ${t} r
          SET status = 'READY', attempts = 0, run_after = now(), finished_at = NULL, last_error = NULL,
              leased_by = NULL, leased_until = NULL, lease_token = NULL, cancel_requested = false,
              expires_at = CASE WHEN r.expires_at <= now() THEN NULL ELSE r.expires_at END,
              updated_at = now()
         FROM decided d
        WHERE r.result_id = d.result_id AND NOT d.skipped
       RETURNING r.result_id
     )
     SELECT d.result_id::text, d.skipped, d.active_id::text
       FROM decided d
      WHERE d.skipped OR d.result_id IN (SELECT result_id FROM updated)
      ORDER BY d.result_id`,
    params,
  );
  if (result.rows.some((row) => !row.skipped)) {
    // The enqueue trigger wakes idle workers only on INSERT; a retry is an UPDATE.
    await db.query("SELECT pg_notify($1, $2)", [channelName(schema, "enqueued"), '{"*":0}']);
  }
  return result.rows;
}

/**
 * Inserts a new READY run that copies a finished run's spec, hash and execution settings
 * verbatim in SQL (no round trip through JavaScript, so the jsonb spec and its hash cannot
 * drift), with provenance extended by `replay_of`. dedup_key stays NULL: a replay is a
 * deliberate second execution, and the same spec may already be active (the original was
 * re-enqueued); deduplicating would return that run instead of replaying. Null when the
 * run does not exist or is not finished.
 */
export async function insertReplay(db: Queryable, schema: string, id: string): Promise<TaskRunRow | null> {
  const t = qualify(schema, "task_runs");
  const result = await db.query<TaskRunRow>(
    `INSERT INTO ${t} (queue_name, priority, run_after, spec_json, spec_hash, dedup_key, task_path,
                       max_attempts, timeout_seconds, lock_key, concurrency_key, concurrency_limit,
                       provenance_json, status)
     SELECT queue_name, priority, now(), spec_json, spec_hash, NULL, task_path,
            max_attempts, timeout_seconds, lock_key, concurrency_key, concurrency_limit,
            provenance_json || jsonb_build_object('replay_of', result_id::text), 'READY'
       FROM ${t}
      WHERE result_id = $1::bigint AND status IN (${FINAL})
     RETURNING *`,
    [id],
  );
  return result.rows[0] ?? null;
}
