/** cancel(id): the one implementation behind the API, `reproq cancel` and later the dashboard. */
import { mapDatabaseError } from "../db/pool.js";
import { TaskResultNotFoundError } from "../errors.js";
import { parseRunId, type RunIdInput } from "../ids.js";
import { getBackend } from "../runtime.js";
import { cancelRun } from "../sql/cancel.js";

export interface CancelOutcome {
  id: string;
  previousStatus: string;
  status: string;
  /** cancelled: it had not started; requested: it is running and will stop; finished: nothing to do. */
  outcome: "cancelled" | "requested" | "finished";
}

/**
 * Cancels a run: READY or WAITING runs end CANCELLED at once; a RUNNING run's handler sees
 * its AbortSignal fire (or its child process is killed) and the run ends CANCELLED.
 */
export async function cancel(id: RunIdInput): Promise<CancelOutcome> {
  const parsed = parseRunId(id);
  const backend = getBackend(parsed.alias ?? undefined);
  const [pool, schema] = await Promise.all([backend.pool(), backend.schema()]);
  let row: Awaited<ReturnType<typeof cancelRun>>;
  try {
    row = await cancelRun(pool, schema, parsed.resultId);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  if (!row) throw new TaskResultNotFoundError(String(id));
  const outcome =
    row.previous_status === "RUNNING"
      ? "requested"
      : row.status === "CANCELLED" && row.previous_status !== "CANCELLED"
        ? "cancelled"
        : "finished";
  return { id: String(id), previousStatus: row.previous_status, status: row.status, outcome };
}
