/**
 * Maintenance queries: the lease reaper, expiry of runs that never started, retention of
 * finished runs and of stale worker rows. Each statement touches a bounded batch so no
 * maintenance pass holds long locks.
 */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import { lockSlotsOf, type QueueFilter } from "./worker.js";

export interface ReapedRun {
  result_id: string;
  status: string;
  task_path: string;
  queue_name: string;
  leased_by: string | null;
}

export interface ExpiredRun {
  result_id: string;
  task_path: string;
  queue_name: string;
}

/** RUNNING runs whose lease expired: back to READY while attempts remain, else FAILED (CANCELLED if cancel was requested). */
export async function reapExpiredLeases(db: Queryable, schema: string, limit: number): Promise<ReapedRun[]> {
  const t = qualify(schema, "task_runs");
  // The reaper changes RUNNING runs too: it takes the counters' locks in key order first (see lockSlotsOf).
  const result = await db.query<ReapedRun>(
    `WITH expired AS MATERIALIZED (
       SELECT result_id, leased_by FROM ${t}
        WHERE status = 'RUNNING' AND leased_until < now()
        ORDER BY leased_until LIMIT $1 FOR UPDATE SKIP LOCKED
     ), ${lockSlotsOf(schema, "ARRAY(SELECT result_id FROM expired)").replace(/^WITH /, "")}, decided AS (
       SELECT r.result_id, expired.leased_by,
              CASE WHEN r.cancel_requested THEN 'CANCELLED'
                   WHEN r.attempts < r.max_attempts THEN 'READY' ELSE 'FAILED' END AS next_status
         FROM ${t} r JOIN expired USING (result_id)
     )
     UPDATE ${t} r
        SET status = d.next_status, run_after = now(),
            finished_at = CASE WHEN d.next_status = 'READY' THEN NULL ELSE now() END,
            errors_json = r.errors_json || jsonb_build_array(jsonb_build_object(
              'kind', 'lease_expired', 'class', NULL,
              'message', 'worker ' || coalesce(d.leased_by, '?') || ' stopped renewing its lease (crashed, frozen or cut off)',
              'stack', NULL, 'attempt', r.attempts, 'worker', d.leased_by, 'at', now())),
            last_error = CASE WHEN d.next_status = 'READY' THEN r.last_error
                              ELSE 'lease expired: worker ' || coalesce(d.leased_by, '?') || ' stopped renewing its lease' END,
            leased_by = NULL, leased_until = NULL, lease_token = NULL, updated_at = now()
       FROM decided d
      WHERE r.result_id = d.result_id AND (SELECT count(*) FROM locked_slots) >= 0
   RETURNING r.result_id, r.status, r.task_path, r.queue_name, d.leased_by`,
    [limit],
  );
  return result.rows;
}

/** What reapExpiredLeases would touch, without changing anything. */
export async function listExpiredLeases(db: Queryable, schema: string, limit: number): Promise<ReapedRun[]> {
  const result = await db.query<ReapedRun>(
    `SELECT result_id,
            CASE WHEN cancel_requested THEN 'CANCELLED' WHEN attempts < max_attempts THEN 'READY' ELSE 'FAILED' END AS status,
            task_path, queue_name, leased_by
       FROM ${qualify(schema, "task_runs")}
      WHERE status = 'RUNNING' AND leased_until < now()
      ORDER BY leased_until LIMIT $1`,
    [limit],
  );
  return result.rows;
}

/**
 * Which runs an expiry pass ends: every READY or WAITING run past its expiry (the maintenance
 * pass), or only those a worker serving `queues` would have claimed by now (READY, due, in a
 * served and unpaused queue), which the worker's claim loop expires as it meets them.
 */
export type ExpiryScope = { all: true } | { queues: QueueFilter };

/** Runs of `scope` past expires_at become EXPIRED, up to `limit`; through task_runs_expiry_idx. */
export async function expireRuns(
  db: Queryable,
  schema: string,
  limit: number,
  scope: ExpiryScope = { all: true },
): Promise<ExpiredRun[]> {
  const t = qualify(schema, "task_runs");
  const served =
    "queues" in scope
      ? `status = 'READY' AND run_after <= now()
           AND (queue_name = ANY($2) OR queue_name LIKE ANY($3))
           AND NOT EXISTS (SELECT 1 FROM ${qualify(schema, "queue_controls")} qc
                            WHERE qc.queue_name = c.queue_name AND qc.paused)`
      : "status IN ('READY','WAITING')";
  const params = "queues" in scope ? [limit, scope.queues.names, scope.queues.patterns] : [limit];
  const result = await db.query<ExpiredRun>(
    `UPDATE ${t} r
        SET status = 'EXPIRED', finished_at = now(), last_error = 'expired before it started',
            errors_json = r.errors_json || jsonb_build_array(jsonb_build_object(
              'kind', 'expired', 'class', NULL, 'message', 'the run did not start before ' || r.expires_at,
              'stack', NULL, 'attempt', r.attempts, 'worker', NULL, 'at', now())),
            updated_at = now()
      WHERE r.result_id IN (
        SELECT result_id FROM ${t} c
         WHERE ${served} AND expires_at <= now()
         LIMIT $1 FOR UPDATE SKIP LOCKED)
        AND r.status IN ('READY','WAITING')
   RETURNING r.result_id, r.task_path, r.queue_name`,
    params,
  );
  return result.rows;
}

/** The timestamp columns a prune may measure a run's age by. */
export type AgeField = "finished_at" | "updated_at" | "enqueued_at" | "started_at";

/**
 * Deletes up to `limit` runs with one of `statuses` whose `field` is more than `olderThanMs` ago.
 * `field` is one of AgeField, checked by the caller; it is the only text interpolated here.
 */
export async function deleteFinishedRuns(
  db: Queryable,
  schema: string,
  statuses: readonly string[],
  olderThanMs: number,
  limit: number,
  field: AgeField = "finished_at",
): Promise<number> {
  const t = qualify(schema, "task_runs");
  const result = await db.query(
    `DELETE FROM ${t}
      WHERE result_id IN (
        SELECT result_id FROM ${t}
         WHERE status = ANY($1::text[]) AND ${field} < now() - $2 * interval '1 millisecond'
         LIMIT $3 FOR UPDATE SKIP LOCKED)`,
    [statuses, Math.round(olderThanMs), limit],
  );
  return result.rowCount ?? 0;
}

/** How many runs deleteFinishedRuns would delete in total (same predicate, no limit). */
export async function countFinishedRuns(
  db: Queryable,
  schema: string,
  statuses: readonly string[],
  olderThanMs: number,
  field: AgeField = "finished_at",
): Promise<number> {
  const result = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM ${qualify(schema, "task_runs")}
      WHERE status = ANY($1::text[]) AND ${field} < now() - $2 * interval '1 millisecond'`,
    [statuses, Math.round(olderThanMs)],
  );
  return result.rows[0]?.count ?? 0;
}

/** Deletes worker rows not seen for `olderThanMs`. */
export async function deleteStaleWorkers(
  db: Queryable,
  schema: string,
  olderThanMs: number,
): Promise<string[]> {
  const result = await db.query<{ worker_id: string }>(
    `DELETE FROM ${qualify(schema, "workers")} WHERE last_seen_at < now() - $1 * interval '1 millisecond' RETURNING worker_id`,
    [Math.round(olderThanMs)],
  );
  return result.rows.map((r) => r.worker_id);
}

export async function tryAdvisoryLock(db: Queryable, key: string): Promise<boolean> {
  const result = await db.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS ok", [key]);
  return result.rows[0]?.ok === true;
}

export async function advisoryUnlock(db: Queryable, key: string): Promise<void> {
  await db.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
}
