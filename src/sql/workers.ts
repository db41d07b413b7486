/** Reading the worker registry (the workers table) for operators: listings and stats. */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface WorkerRow {
  worker_id: string;
  hostname: string;
  pid: number | null;
  version: string;
  queues: string[];
  concurrency: number;
  metadata_json: Record<string, unknown>;
  started_at: Date;
  last_seen_at: Date;
  /** Milliseconds since last_seen_at, by the database clock (worker clocks may disagree). */
  idle_ms: number;
  /** RUNNING runs this worker holds a lease on. */
  running: number;
}

/** Every registered worker, most recently seen first. */
export async function selectWorkers(db: Queryable, schema: string): Promise<WorkerRow[]> {
  const result = await db.query<WorkerRow>(
    `SELECT w.worker_id, w.hostname, w.pid, w.version, w.queues, w.concurrency, w.metadata_json,
            w.started_at, w.last_seen_at,
            (extract(epoch FROM now() - w.last_seen_at) * 1000)::float8 AS idle_ms,
            (SELECT count(*)::int FROM ${qualify(schema, "task_runs")} r
              WHERE r.status = 'RUNNING' AND r.leased_by = w.worker_id) AS running
       FROM ${qualify(schema, "workers")} w
      ORDER BY w.last_seen_at DESC, w.worker_id`,
  );
  return result.rows;
}
