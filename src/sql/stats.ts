/**
 * Read-only aggregates for `reproq stats`: run counts by queue and status, the oldest
 * waiting READY run per queue, expired leases and the schedule count. Each is one
 * statement over task_runs or a small table, cheap enough to run on demand.
 */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface QueueStatusCountRow {
  queue_name: string;
  status: string;
  count: number;
  /** Milliseconds the oldest due READY run of this queue has waited; null for other statuses or none due. */
  oldest_ready_ms: number | null;
}

/** One row per (queue, status) present; a run delayed into the future is not "waiting" yet. */
export async function selectQueueStatusCounts(db: Queryable, schema: string): Promise<QueueStatusCountRow[]> {
  const result = await db.query<QueueStatusCountRow>(
    `SELECT queue_name, status, count(*)::int AS count,
            (extract(epoch FROM now() - min(run_after) FILTER (WHERE status = 'READY' AND run_after <= now()))
              * 1000)::float8 AS oldest_ready_ms
       FROM ${qualify(schema, "task_runs")}
      GROUP BY queue_name, status
      ORDER BY queue_name, status`,
  );
  return result.rows;
}

/** RUNNING runs whose lease ran out (their worker is gone); the lease reaper re-queues them. */
export async function countExpiredLeases(db: Queryable, schema: string): Promise<number> {
  const result = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM ${qualify(schema, "task_runs")}
      WHERE status = 'RUNNING' AND leased_until < now()`,
  );
  return result.rows[0]?.count ?? 0;
}

export async function countSchedules(
  db: Queryable,
  schema: string,
): Promise<{ count: number; enabled: number }> {
  const result = await db.query<{ count: number; enabled: number }>(
    `SELECT count(*)::int AS count, (count(*) FILTER (WHERE enabled))::int AS enabled
       FROM ${qualify(schema, "periodic_tasks")}`,
  );
  return result.rows[0] ?? { count: 0, enabled: 0 };
}
