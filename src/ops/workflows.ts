/**
 * Reading and cancelling workflows. The cores take a database and a schema so a CLI or a
 * dashboard can use its own pool; getWorkflow() and cancelWorkflow() use the default backend.
 */

import pg from "pg";
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { withTransaction } from "../db/transaction.js";
import { InvalidInputError, ReproqError } from "../errors.js";
import type { TaskResult } from "../result.js";
import { getBackend } from "../runtime.js";
import type { TaskRunRow } from "../sql/runs.js";
import {
  type CancelWorkflowRow,
  cancelWorkflowRuns,
  selectWorkflow,
  selectWorkflowRuns,
  type WorkflowKind,
  type WorkflowRow,
  type WorkflowStatus,
} from "../sql/workflows.js";

export type { WorkflowKind, WorkflowStatus } from "../sql/workflows.js";

export interface Workflow {
  id: string;
  kind: WorkflowKind;
  status: WorkflowStatus;
  /** Steps of a chain, members of a group or chord (a chord's callback is not counted). */
  expectedCount: number;
  successCount: number;
  /** Members that ended FAILED, EXPIRED or CANCELLED on their own (not those the workflow cancelled). */
  failureCount: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** Steps in order (without a chord's callback). */
  members: TaskResult[];
  /** A chord's callback; null for chains and groups. */
  callback: TaskResult | null;
}

export interface WorkflowCancelOutcome {
  id: string;
  previousStatus: WorkflowStatus;
  /** CANCELLED, or the final status it already had. */
  status: WorkflowStatus;
  /** Runs that had not started and are now CANCELLED. */
  cancelled: string[];
  /** Running runs asked to stop (they end CANCELLED when their worker sees it). */
  requested: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function workflowId(id: unknown): string {
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new InvalidInputError(`workflow id must be a UUID, got ${JSON.stringify(id)}`);
  }
  return id.toLowerCase();
}

function notFound(id: string): ReproqError {
  return new ReproqError("NOT_FOUND", `workflow ${id} does not exist`);
}

/** A workflow row and its runs in step order; NOT_FOUND when there is none. */
export async function loadWorkflow(
  db: Queryable,
  schema: string,
  id: string,
): Promise<{ workflow: WorkflowRow; runs: TaskRunRow[] }> {
  const wid = workflowId(id);
  try {
    const workflow = await selectWorkflow(db, schema, wid);
    if (!workflow) throw notFound(wid);
    return { workflow, runs: await selectWorkflowRuns(db, schema, wid) };
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

/**
 * Cancels a workflow in one transaction: the caller's when `db` is a client, else its own
 * (retried when PostgreSQL breaks a deadlock with a run finishing at the same moment).
 */
export async function cancelWorkflowIn(
  db: Queryable,
  schema: string,
  id: string,
): Promise<WorkflowCancelOutcome> {
  const wid = workflowId(id);
  let row: CancelWorkflowRow | null;
  try {
    row =
      db instanceof pg.Pool
        ? await withTransaction(db, (c) => cancelWorkflowRuns(c, schema, wid), { retries: 4 })
        : await cancelWorkflowRuns(db, schema, wid);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  if (!row) throw notFound(wid);
  const active = row.previous_status === "RUNNING" || row.previous_status === "WAITING_CALLBACK";
  return {
    id: wid,
    previousStatus: row.previous_status,
    status: active ? "CANCELLED" : row.previous_status,
    cancelled: row.cancelled,
    requested: row.requested,
  };
}

/** The workflow with its runs (TaskResult, in step order). */
export async function getWorkflow(id: string): Promise<Workflow> {
  const backend = getBackend();
  const [pool, schema] = await Promise.all([backend.pool(), backend.schema()]);
  const { workflow, runs } = await loadWorkflow(pool, schema, id);
  const results = backend.resultsOf(runs, false);
  const callback =
    workflow.callback_result_id === null
      ? null
      : (results.find((r) => r.resultId === workflow.callback_result_id) ?? null);
  return {
    id: workflow.workflow_id,
    kind: workflow.kind,
    status: workflow.status,
    expectedCount: workflow.expected_count,
    successCount: workflow.success_count,
    failureCount: workflow.failure_count,
    createdAt: workflow.created_at,
    updatedAt: workflow.updated_at,
    finishedAt: workflow.finished_at,
    members: results.filter((r) => r !== callback),
    callback,
  };
}

/**
 * Cancels a workflow: runs that have not started end CANCELLED, running ones are asked to stop
 * (as cancel() does), and the workflow ends CANCELLED so nothing finishing later advances it.
 */
export async function cancelWorkflow(id: string): Promise<WorkflowCancelOutcome> {
  const backend = getBackend();
  const [pool, schema] = await Promise.all([backend.pool(), backend.schema()]);
  return cancelWorkflowIn(pool, schema, id);
}
