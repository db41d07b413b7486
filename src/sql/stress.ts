/** Progress of a `reproq stress-test` batch: its runs are one task within a result_id range. */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface RangeCounts {
  /** READY, RUNNING or WAITING. */
  active: number;
  failed: number;
}

/** Counts the runs of `taskPath` with result_id in [first, last] (the primary key bounds the scan). */
export async function countRunsInRange(
  db: Queryable,
  schema: string,
  taskPath: string,
  first: string,
  last: string,
): Promise<RangeCounts> {
  const result = await db.query<RangeCounts>(
    `SELECT count(*) FILTER (WHERE status IN ('READY', 'RUNNING', 'WAITING'))::int AS active,
            count(*) FILTER (WHERE status IN ('FAILED', 'EXPIRED', 'CANCELLED'))::int AS failed
       FROM ${qualify(schema, "task_runs")}
      WHERE result_id BETWEEN $1::bigint AND $2::bigint AND task_path = $3`,
    [first, last, taskPath],
  );
  return result.rows[0] ?? { active: 0, failed: 0 };
}
