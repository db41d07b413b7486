/**
 * Cancelling a run: the one implementation behind the API's cancel(), `reproq cancel` and
 * later the dashboard. The core takes a database so the CLI can use its own pool.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { TaskResultNotFoundError } from "../errors.js";
import { parseRunId, type RunIdInput } from "../ids.js";
import { getBackend } from "../runtime.js";
import { cancelRun } from "../sql/cancel.js";
import { resultIdIn } from "./run-id.js";

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
  return cancelRunById(pool, schema, id);
}

/** cancel() against a given database; TaskResultNotFoundError when no run has this id. */
export async function cancelRunById(db: Queryable, schema: string, id: RunIdInput): Promise<CancelOutcome> {
  const resultId = resultIdIn(id);
  let row: Awaited<ReturnType<typeof cancelRun>>;
  try {
    row = await cancelRun(db, schema, resultId);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  if (!row) throw new TaskResultNotFoundError(String(id));
  return { id: String(id), previousStatus: row.previous_status, status: row.status, outcome: outcomeOf(row) };
}

function outcomeOf(row: { previous_status: string; status: string }): CancelOutcome["outcome"] {
  if (row.previous_status === "RUNNING") return "requested";
  // A run that was already CANCELLED stays so: there was nothing left to do.
  if (row.status === "CANCELLED" && row.previous_status !== "CANCELLED") return "cancelled";
  return "finished";
}
