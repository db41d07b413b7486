/**
 * Migration 13: settles take their batch's workflow locks in one order. A run that belongs to a
 * workflow locks the workflow's row when it finishes (a trigger, migration 3): that serializes the
 * completions of one workflow, which is what fires a chord's callback exactly once. Two workers
 * settling batches with members of the same two workflows took those locks in the order of their
 * rows, so each could hold one and wait for the other, and PostgreSQL rolled one batch back
 * (about one in 2,000 chords of four runs with three workers). settle_runs() now locks the
 * workflow rows of its batch in workflow_id order, after the key counters and before it updates
 * any run; the trigger then finds its lock already held. While no workflow is active (one probe of
 * workflow_runs_status_idx per batch) it skips this, so plain runs pay nothing.
 */
import { quoteIdent } from "../../db/names.js";
import { settleRunsReplacement } from "./0009_settle_hash_join.js";
import { notifyFinishedInChunks } from "./0011_batched_finish_notify.js";
import type { Migration } from "./types.js";

function lockWorkflowsInOrder(schema: string): string {
  const s = quoteIdent(schema);
  return `  IF EXISTS (SELECT 1 FROM ${s}.workflow_runs w WHERE w.status IN ('RUNNING','WAITING_CALLBACK')) THEN
    PERFORM 1 FROM ${s}.workflow_runs w
     WHERE w.workflow_id IN (SELECT r.workflow_id FROM ${s}.task_runs r
                              WHERE r.result_id = ANY(p_ids) AND r.workflow_id IS NOT NULL)
     ORDER BY w.workflow_id
       FOR UPDATE;
  END IF;
`;
}

function up(schema: string): string {
  return settleRunsReplacement(schema, notifyFinishedInChunks(schema), lockWorkflowsInOrder(schema));
}

export const migration0013: Migration = { version: 13, name: "workflow_lock_order", up };
