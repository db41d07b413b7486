/**
 * Replaying a finished run: a new run with exactly the recorded spec and execution settings,
 * linked to the original through provenance (`replay_of`). Used to re-run a run after a
 * fix, or to reproduce one; the original is left untouched.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { ConflictError, TaskResultNotFoundError } from "../errors.js";
import { parseRunId, type RunIdInput } from "../ids.js";
import type { TaskResult } from "../result.js";
import { getBackend } from "../runtime.js";
import { selectRunById, type TaskRunRow } from "../sql/runs.js";
import { insertReplay } from "../sql/triage.js";
import { resultIdIn } from "./run-id.js";

/**
 * Inserts the replay of a finished run (any final status) and returns the new row. It is
 * never deduplicated: see insertReplay. A missing run is TaskResultNotFoundError; one that has
 * not finished is ConflictError (replaying it would run the same work twice at once).
 */
export async function replayRun(db: Queryable, schema: string, id: RunIdInput): Promise<TaskRunRow> {
  const resultId = resultIdIn(id);
  try {
    const row = await insertReplay(db, schema, resultId);
    if (row) return row;
    const original = await selectRunById(db, schema, resultId);
    if (!original) throw new TaskResultNotFoundError(String(id));
    throw new ConflictError(
      `run ${String(id)} is ${original.status}; only finished runs (SUCCESSFUL, FAILED, CANCELLED, EXPIRED) can be replayed`,
    );
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

/** What an operator needs to know about a replay: the new run and the one it copies. */
export interface ReplayOutcome {
  id: string;
  replayOf: string;
  taskName: string;
  queue: string;
  status: string;
}

/** replayRun() as plain data; `replayOf` is the id as given ("42" or "default:42"). */
export async function replayRunById(db: Queryable, schema: string, id: RunIdInput): Promise<ReplayOutcome> {
  const row = await replayRun(db, schema, id);
  return {
    id: row.result_id,
    replayOf: String(id),
    taskName: row.task_path,
    queue: row.queue_name,
    status: row.status,
  };
}

/** Replays a finished run as a new run and returns it (READY). */
export async function replay(id: RunIdInput): Promise<TaskResult> {
  const parsed = parseRunId(id);
  const backend = getBackend(parsed.alias ?? undefined);
  const [pool, schema] = await Promise.all([backend.pool(), backend.schema()]);
  const row = await replayRun(pool, schema, parsed.resultId);
  const [result] = backend.resultsOf([row], true);
  return result!;
}
