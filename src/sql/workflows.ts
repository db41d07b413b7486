/**
 * Workflow queries: writing a chain, group or chord (the caller holds one transaction around
 * all of them), reading a workflow with its runs, and cancelling one. Advancing a workflow is
 * not here: the advance_workflow() trigger (migration 3) does it whenever a run finishes.
 */

import { channelName, qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import { ConflictError } from "../errors.js";
import { insertRuns, type NewRun, type TaskRunRow } from "./runs.js";

export type WorkflowKind = "chain" | "group" | "chord";
export type WorkflowStatus = "RUNNING" | "WAITING_CALLBACK" | "SUCCESSFUL" | "FAILED" | "CANCELLED";

export interface WorkflowRow {
  workflow_id: string;
  kind: WorkflowKind;
  status: WorkflowStatus;
  expected_count: number;
  success_count: number;
  failure_count: number;
  callback_result_id: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** Inserts runs that must all be new; a step's hash covers its workflow id, so none can dedup. */
async function insertFresh(db: Queryable, schema: string, runs: readonly NewRun[]): Promise<TaskRunRow[]> {
  const outcomes = await insertRuns(db, schema, runs);
  return outcomes.map((outcome) => {
    if (!outcome.row)
      throw new ConflictError("a workflow step collided with an active run; retry the enqueue");
    return outcome.row;
  });
}

async function insertWorkflow(
  db: Queryable,
  schema: string,
  id: string,
  kind: WorkflowKind,
  expected: number,
  status: WorkflowStatus,
  callbackId: string | null,
): Promise<void> {
  await db.query(
    `INSERT INTO ${qualify(schema, "workflow_runs")} (workflow_id, kind, status, expected_count, callback_result_id)
     VALUES ($1, $2, $3, $4, $5)`,
    [id, kind, status, expected, callbackId],
  );
}

/**
 * A chain: step 0 READY, each later step WAITING on the one before (parent_id, wait_count 1).
 * Parent ids are only known after insert, so steps go in one statement each, in order.
 */
export async function insertChain(
  db: Queryable,
  schema: string,
  id: string,
  steps: ReadonlyArray<{ run: NewRun; pipe: boolean }>,
): Promise<TaskRunRow[]> {
  const rows: TaskRunRow[] = [];
  for (const [index, step] of steps.entries()) {
    const parentId = index === 0 ? null : rows[index - 1]!.result_id;
    const run: NewRun = {
      ...step.run,
      status: index === 0 ? "READY" : "WAITING",
      parentId,
      waitCount: index === 0 ? 0 : 1,
    };
    const [row] = await insertFresh(db, schema, [run]);
    rows.push(row!);
  }
  const piped = rows.filter((_, i) => steps[i]!.pipe).map((row) => row.result_id);
  if (piped.length > 0) {
    await db.query(
      `UPDATE ${qualify(schema, "task_runs")} SET pipe_from_parent = true WHERE result_id = ANY($1::bigint[])`,
      [piped],
    );
  }
  await insertWorkflow(db, schema, id, "chain", steps.length, "RUNNING", null);
  return rows;
}

/** A group: every member READY at once, sharing the workflow id. */
export async function insertGroup(
  db: Queryable,
  schema: string,
  id: string,
  runs: readonly NewRun[],
): Promise<TaskRunRow[]> {
  const rows = await insertFresh(db, schema, runs);
  await insertWorkflow(db, schema, id, "group", runs.length, "RUNNING", null);
  return rows;
}

/** A chord: members READY, the callback WAITING until all succeed (READY at once when there are none). */
export async function insertChord(
  db: Queryable,
  schema: string,
  id: string,
  members: readonly NewRun[],
  callback: NewRun,
): Promise<{ members: TaskRunRow[]; callback: TaskRunRow }> {
  const empty = members.length === 0;
  const rows = await insertFresh(db, schema, [
    ...members,
    { ...callback, status: empty ? "READY" : "WAITING", waitCount: empty ? 0 : 1 },
  ]);
  const callbackRow = rows.pop()!;
  await insertWorkflow(
    db,
    schema,
    id,
    "chord",
    members.length,
    empty ? "WAITING_CALLBACK" : "RUNNING",
    callbackRow.result_id,
  );
  return { members: rows, callback: callbackRow };
}

export async function selectWorkflow(db: Queryable, schema: string, id: string): Promise<WorkflowRow | null> {
  const result = await db.query<WorkflowRow>(
    `SELECT * FROM ${qualify(schema, "workflow_runs")} WHERE workflow_id = $1`,
    [id],
  );
  return result.rows[0] ?? null;
}

/** The runs of a workflow in step order (a chord's callback is its last step). */
export async function selectWorkflowRuns(db: Queryable, schema: string, id: string): Promise<TaskRunRow[]> {
  const result = await db.query<TaskRunRow>(
    `SELECT * FROM ${qualify(schema, "task_runs")} WHERE workflow_id = $1
      ORDER BY (spec_json -> 'workflow' ->> 'step')::integer, result_id`,
    [id],
  );
  return result.rows;
}

export interface CancelWorkflowRow {
  previous_status: WorkflowStatus;
  cancelled: string[];
  requested: string[];
}

/**
 * Cancels a workflow in one transaction (the caller's): an active workflow becomes CANCELLED
 * first, so no run finishing afterwards advances it; pending runs end CANCELLED; running ones get
 * cancel_requested and a NOTIFY on the cancel channel, like cancel(). Member rows are locked
 * before the workflow row, the order a finishing run takes them in, to avoid deadlocks.
 * Returns null when there is no such workflow.
 */
export async function cancelWorkflowRuns(
  db: Queryable,
  schema: string,
  id: string,
): Promise<CancelWorkflowRow | null> {
  const t = qualify(schema, "task_runs");
  const wf = qualify(schema, "workflow_runs");
  await db.query(
    `SELECT 1 FROM ${t} WHERE workflow_id = $1 AND status IN ('READY','WAITING','RUNNING')
      ORDER BY result_id FOR UPDATE`,
    [id],
  );
  const locked = await db.query<{ status: WorkflowStatus }>(
    `SELECT status FROM ${wf} WHERE workflow_id = $1 FOR UPDATE`,
    [id],
  );
  const previous = locked.rows[0]?.status;
  if (previous === undefined) return null;
  // A workflow that already failed can still have runs going (a chord's other members, a chain
  // step before an expired one): those are cancelled too, but its status stays FAILED.
  await db.query(
    `UPDATE ${wf} SET status = 'CANCELLED', finished_at = now(), updated_at = now()
      WHERE workflow_id = $1 AND status IN ('RUNNING','WAITING_CALLBACK')`,
    [id],
  );
  const result = await db.query<{ result_id: string; previous: string }>(
    `WITH target AS (
       SELECT result_id, status FROM ${t} WHERE workflow_id = $1 AND status IN ('READY','WAITING','RUNNING')
     )
     UPDATE ${t} r
        SET status = CASE WHEN target.status = 'RUNNING' THEN r.status ELSE 'CANCELLED' END,
            finished_at = CASE WHEN target.status = 'RUNNING' THEN r.finished_at ELSE now() END,
            cancel_requested = true,
            wait_count = CASE WHEN target.status = 'RUNNING' THEN r.wait_count ELSE 0 END,
            errors_json = CASE WHEN target.status = 'RUNNING' THEN r.errors_json
              ELSE r.errors_json || jsonb_build_array(jsonb_build_object('kind', 'workflow_cancelled', 'class', NULL,
                     'message', 'workflow cancelled', 'stack', NULL, 'attempt', r.attempts, 'worker', NULL, 'at', now()))
              END,
            last_error = CASE WHEN target.status = 'RUNNING' THEN r.last_error ELSE 'workflow cancelled' END,
            updated_at = now()
       FROM target
      WHERE r.result_id = target.result_id
   RETURNING r.result_id, target.status AS previous`,
    [id],
  );
  const requested = result.rows.filter((r) => r.previous === "RUNNING").map((r) => r.result_id);
  const cancelled = result.rows.filter((r) => r.previous !== "RUNNING").map((r) => r.result_id);
  if (requested.length > 0) {
    // Delivered at commit, like cancel()'s: the running handlers see their AbortSignal fire.
    await db.query("SELECT pg_notify($1, id::text) FROM unnest($2::bigint[]) AS u(id)", [
      channelName(schema, "cancel"),
      requested,
    ]);
  }
  return { previous_status: previous, cancelled, requested };
}
