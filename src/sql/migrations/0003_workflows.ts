/**
 * Migration 3: workflows (chain, group, chord). A row trigger advances a workflow in the same
 * transaction as the status change of one of its runs, so every path that finishes a run
 * (worker completions and failures, the lease reaper, expiry, cancel, an operator's SQL)
 * releases the next step, counts, fires a chord's callback or cancels what can no longer run.
 */
import { quoteIdent } from "../../db/names.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;
  const wake = `PERFORM pg_notify(${lit(`${schema}.enqueued`)}, '{"*":0}')`;
  return `
-- A chain step with pipe: true receives its parent's return value as its last argument.
ALTER TABLE ${s}.task_runs ADD COLUMN pipe_from_parent boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN ${s}.task_runs.pipe_from_parent IS
  'Chain step: on release, the parent''s return_json is appended to spec_json->args (spec_hash is fixed at enqueue).';

-- Ends the WAITING runs of a workflow that can no longer start. Their error entry has kind
-- workflow_cancelled, which also tells advance_workflow() not to count them as failures.
CREATE FUNCTION ${s}.cancel_waiting_steps(p_workflow uuid, p_message text) RETURNS void LANGUAGE sql AS $fn$
  UPDATE ${s}.task_runs r
     SET status = 'CANCELLED', finished_at = now(), wait_count = 0, last_error = p_message,
         errors_json = r.errors_json || jsonb_build_array(jsonb_build_object('kind', 'workflow_cancelled',
           'class', NULL, 'message', p_message, 'stack', NULL, 'attempt', r.attempts, 'worker', NULL, 'at', now())),
         updated_at = now()
   WHERE r.workflow_id = p_workflow AND r.status = 'WAITING';
$fn$;

CREATE FUNCTION ${s}.advance_workflow() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  w ${s}.workflow_runs%ROWTYPE;
  ok boolean := NEW.status = 'SUCCESSFUL';
  step integer := coalesce((NEW.spec_json -> 'workflow' ->> 'step')::integer, 0);
  reason text;
BEGIN
  -- Runs the workflow itself cancelled: nothing left to advance, and not a failure of their own.
  IF NEW.status = 'CANCELLED' AND NEW.errors_json -> -1 ->> 'kind' = 'workflow_cancelled' THEN
    RETURN NULL;
  END IF;
  -- One lock per event, on the workflow row: it serializes concurrent completions of the same
  -- workflow (on any number of workers), which is what makes a chord's callback fire once.
  SELECT * INTO w FROM ${s}.workflow_runs WHERE workflow_id = NEW.workflow_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;

  IF w.kind = 'chord' AND NEW.result_id = w.callback_result_id THEN
    IF w.status IN ('RUNNING','WAITING_CALLBACK') THEN
      UPDATE ${s}.workflow_runs
         SET status = CASE NEW.status WHEN 'SUCCESSFUL' THEN 'SUCCESSFUL' WHEN 'CANCELLED' THEN 'CANCELLED' ELSE 'FAILED' END,
             finished_at = now(), updated_at = now()
       WHERE workflow_id = w.workflow_id;
    END IF;
    RETURN NULL;
  END IF;

  UPDATE ${s}.workflow_runs
     SET success_count = success_count + CASE WHEN ok THEN 1 ELSE 0 END,
         failure_count = failure_count + CASE WHEN ok THEN 0 ELSE 1 END,
         updated_at = now()
   WHERE workflow_id = w.workflow_id
  RETURNING * INTO w;
  reason := 'step ' || step || ' ' || lower(NEW.status) || coalesce(': ' || NEW.last_error, '');

  IF w.kind = 'chain' THEN
    IF ok AND w.status = 'RUNNING' THEN
      UPDATE ${s}.task_runs c
         SET wait_count = c.wait_count - 1,
             status = CASE WHEN c.wait_count <= 1 THEN 'READY' ELSE c.status END,
             run_after = CASE WHEN c.wait_count <= 1 THEN greatest(c.run_after, now()) ELSE c.run_after END,
             spec_json = CASE WHEN c.wait_count <= 1 AND c.pipe_from_parent
               THEN jsonb_set(c.spec_json, '{args}',
                              coalesce(c.spec_json -> 'args', '[]'::jsonb) || jsonb_build_array(coalesce(NEW.return_json, 'null'::jsonb)))
               ELSE c.spec_json END,
             updated_at = now()
       WHERE c.parent_id = NEW.result_id AND c.workflow_id = NEW.workflow_id AND c.status = 'WAITING' AND c.wait_count > 0;
      IF FOUND THEN ${wake}; END IF;
      IF w.success_count >= w.expected_count THEN
        UPDATE ${s}.workflow_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE workflow_id = w.workflow_id;
      END IF;
    ELSIF NOT ok THEN
      -- The rest of the chain can never run: end it now rather than leave it WAITING forever.
      PERFORM ${s}.cancel_waiting_steps(w.workflow_id, reason);
      IF w.status = 'RUNNING' THEN
        UPDATE ${s}.workflow_runs SET status = CASE WHEN NEW.status = 'CANCELLED' THEN 'CANCELLED' ELSE 'FAILED' END,
               finished_at = now()
         WHERE workflow_id = w.workflow_id;
      END IF;
    END IF;
  ELSIF w.kind = 'chord' THEN
    IF ok AND w.status = 'RUNNING' AND w.failure_count = 0 AND w.success_count >= w.expected_count THEN
      UPDATE ${s}.workflow_runs SET status = 'WAITING_CALLBACK' WHERE workflow_id = w.workflow_id;
      UPDATE ${s}.task_runs c
         SET status = 'READY', wait_count = 0, run_after = greatest(c.run_after, now()), updated_at = now()
       WHERE c.result_id = w.callback_result_id AND c.status = 'WAITING';
      IF FOUND THEN ${wake}; END IF;
    ELSIF NOT ok AND w.status = 'RUNNING' THEN
      PERFORM ${s}.cancel_waiting_steps(w.workflow_id, reason);
      UPDATE ${s}.workflow_runs SET status = CASE WHEN NEW.status = 'CANCELLED' THEN 'CANCELLED' ELSE 'FAILED' END,
             finished_at = now()
       WHERE workflow_id = w.workflow_id;
    END IF;
  ELSE
    -- group: final once every member has finished.
    IF w.status = 'RUNNING' AND w.success_count + w.failure_count >= w.expected_count THEN
      UPDATE ${s}.workflow_runs SET status = CASE WHEN w.failure_count = 0 THEN 'SUCCESSFUL' ELSE 'FAILED' END,
             finished_at = now()
       WHERE workflow_id = w.workflow_id;
    END IF;
  END IF;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER task_runs_advance_workflow AFTER UPDATE OF status ON ${s}.task_runs
  FOR EACH ROW
  WHEN (NEW.workflow_id IS NOT NULL AND NEW.status IN ('SUCCESSFUL','FAILED','CANCELLED','EXPIRED')
        AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION ${s}.advance_workflow();

CREATE INDEX workflow_runs_status_idx ON ${s}.workflow_runs (status, created_at);
`;
}

export const migration0003: Migration = { version: 3, name: "workflows", up };
