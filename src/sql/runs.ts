/**
 * Producer-side queries on task_runs: inserting runs (one statement for any number of rows,
 * deduplicated against active runs by the unique partial index) and reading them back.
 */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import type { TaskStatus } from "../status.js";

/** A row of task_runs as the driver returns it (bigint ids as strings, timestamps as Dates). */
export interface TaskRunRow {
  result_id: string;
  queue_name: string;
  priority: number;
  run_after: Date;
  spec_json: Record<string, unknown>;
  spec_hash: string;
  dedup_key: string | null;
  task_path: string;
  status: TaskStatus;
  enqueued_at: Date;
  started_at: Date | null;
  last_attempted_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  max_attempts: number;
  timeout_seconds: number;
  lock_key: string | null;
  concurrency_key: string | null;
  concurrency_limit: number;
  worker_ids: string[];
  return_json: unknown;
  errors_json: unknown[];
  metadata_json: Record<string, unknown>;
  provenance_json: Record<string, unknown>;
  last_error: string | null;
  leased_until: Date | null;
  leased_by: string | null;
  lease_token: string | null;
  expires_at: Date | null;
  parent_id: string | null;
  workflow_id: string | null;
  wait_count: number;
  cancel_requested: boolean;
  logs_uri: string | null;
  updated_at: Date;
}

/** Everything needed to insert one run. Times are either absolute or a delay from the database clock. */
export interface NewRun {
  queueName: string;
  priority: number;
  /** Absolute start time, or null to use `now() + delayMs`. */
  runAt: Date | null;
  delayMs: number;
  specJson: string;
  specHash: string;
  dedupKey: string | null;
  taskPath: string;
  maxAttempts: number;
  timeoutSeconds: number;
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  /** Expiry as a delay from the database clock at insert, or null for none. */
  expiresInMs: number | null;
  provenanceJson: string;
  status: "READY" | "WAITING";
  parentId: string | null;
  workflowId: string | null;
  waitCount: number;
}

export interface InsertOutcome {
  /** The inserted row, or null when an active run with the same dedup key already existed. */
  row: TaskRunRow | null;
}

/** Inserts runs in one statement; conflicting (deduplicated) inputs come back with `row: null`. */
export async function insertRuns(
  db: Queryable,
  schema: string,
  runs: readonly NewRun[],
): Promise<InsertOutcome[]> {
  if (runs.length === 0) return [];
  const t = qualify(schema, "task_runs");
  const seq = qualify(schema, "task_runs_result_id_seq");
  const col = <K extends keyof NewRun>(key: K) => runs.map((r) => r[key]);
  // Ids are drawn in the CTE so each input ordinal maps to its row without relying on RETURNING order.
  const sql = `
WITH input AS MATERIALIZED (
  SELECT nextval('${seq.replaceAll("'", "''")}') AS result_id, t.*
    FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::int[], $10::int[], $11::text[], $12::text[], $13::int[], $14::bigint[],
                $15::text[], $16::text[], $17::bigint[], $18::uuid[], $19::int[])
         WITH ORDINALITY AS t(queue_name, priority, run_at, delay_ms, spec_json, spec_hash, dedup_key,
                              task_path, max_attempts, timeout_seconds, lock_key, concurrency_key,
                              concurrency_limit, expires_in_ms, provenance_json, status, parent_id,
                              workflow_id, wait_count, ord)
), inserted AS (
  INSERT INTO ${t} (result_id, queue_name, priority, run_after, spec_json, spec_hash, dedup_key, task_path,
                    max_attempts, timeout_seconds, lock_key, concurrency_key, concurrency_limit, expires_at,
                    provenance_json, status, parent_id, workflow_id, wait_count)
  SELECT result_id, queue_name, priority,
         COALESCE(run_at, now() + delay_ms * interval '1 millisecond'),
         spec_json::jsonb, spec_hash, dedup_key, task_path, max_attempts, timeout_seconds, lock_key,
         concurrency_key, concurrency_limit,
         CASE WHEN expires_in_ms IS NULL THEN NULL ELSE now() + expires_in_ms * interval '1 millisecond' END,
         provenance_json::jsonb, status, parent_id, workflow_id, wait_count
    FROM input ORDER BY ord
  ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL AND status IN ('READY','RUNNING','WAITING') DO NOTHING
  RETURNING *
)
SELECT input.ord, inserted.* FROM input LEFT JOIN inserted ON inserted.result_id = input.result_id
 ORDER BY input.ord`;
  const result = await db.query<TaskRunRow & { ord: string }>(sql, [
    col("queueName"),
    col("priority"),
    runs.map((r) => (r.runAt ? r.runAt.toISOString() : null)),
    runs.map((r) => Math.round(r.delayMs)),
    col("specJson"),
    col("specHash"),
    col("dedupKey"),
    col("taskPath"),
    col("maxAttempts"),
    col("timeoutSeconds"),
    col("lockKey"),
    col("concurrencyKey"),
    col("concurrencyLimit"),
    runs.map((r) => (r.expiresInMs === null ? null : Math.round(r.expiresInMs))),
    col("provenanceJson"),
    col("status"),
    col("parentId"),
    col("workflowId"),
    col("waitCount"),
  ]);
  return result.rows.map((row) => {
    if (row.status === null || row.status === undefined) return { row: null };
    const { ord: _ord, ...rest } = row;
    return { row: rest as TaskRunRow };
  });
}

/** Active runs (READY, RUNNING, WAITING) holding any of the given dedup keys. */
export async function selectActiveByDedupKeys(
  db: Queryable,
  schema: string,
  keys: readonly string[],
): Promise<TaskRunRow[]> {
  if (keys.length === 0) return [];
  const result = await db.query<TaskRunRow>(
    `SELECT * FROM ${qualify(schema, "task_runs")}
      WHERE dedup_key = ANY($1::char(64)[]) AND status IN ('READY','RUNNING','WAITING')`,
    [keys],
  );
  return result.rows;
}

export async function selectRunById(db: Queryable, schema: string, id: string): Promise<TaskRunRow | null> {
  const result = await db.query<TaskRunRow>(
    `SELECT * FROM ${qualify(schema, "task_runs")} WHERE result_id = $1`,
    [id],
  );
  return result.rows[0] ?? null;
}
