/** Cancelling a run: READY/WAITING end CANCELLED at once; RUNNING get cancel_requested and a NOTIFY. */

import { channelName, qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface CancelRow {
  previous_status: string;
  status: string;
}

export async function cancelRun(db: Queryable, schema: string, resultId: string): Promise<CancelRow | null> {
  const t = qualify(schema, "task_runs");
  const result = await db.query<CancelRow>(
    `WITH target AS (SELECT result_id, status FROM ${t} WHERE result_id = $1 FOR UPDATE)
     UPDATE ${t} r
        SET status = CASE WHEN target.status IN ('READY','WAITING') THEN 'CANCELLED' ELSE r.status END,
            finished_at = CASE WHEN target.status IN ('READY','WAITING') THEN now() ELSE r.finished_at END,
            cancel_requested = r.cancel_requested OR target.status IN ('READY','WAITING','RUNNING'),
            errors_json = CASE WHEN target.status IN ('READY','WAITING')
              THEN r.errors_json || jsonb_build_array(jsonb_build_object('kind', 'cancelled', 'class', NULL,
                     'message', 'cancelled before it started', 'stack', NULL, 'attempt', r.attempts,
                     'worker', NULL, 'at', now()))
              ELSE r.errors_json END,
            last_error = CASE WHEN target.status IN ('READY','WAITING') THEN 'cancelled' ELSE r.last_error END,
            updated_at = now()
       FROM target
      WHERE r.result_id = target.result_id
   RETURNING target.status AS previous_status, r.status`,
    [resultId],
  );
  const row = result.rows[0] ?? null;
  if (row?.previous_status === "RUNNING") {
    await db.query("SELECT pg_notify($1, $2)", [channelName(schema, "cancel"), resultId]);
  }
  return row;
}
