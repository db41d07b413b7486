/** Where a run's saved output is (task_runs.logs_uri, set by workers started with logsDir). */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

/** The run's logs_uri (null when it saved none), or null when there is no such run. */
export async function selectLogsUri(
  db: Queryable,
  schema: string,
  resultId: string,
): Promise<{ logs_uri: string | null } | null> {
  const result = await db.query<{ logs_uri: string | null }>(
    `SELECT logs_uri FROM ${qualify(schema, "task_runs")} WHERE result_id = $1`,
    [resultId],
  );
  return result.rows[0] ?? null;
}
