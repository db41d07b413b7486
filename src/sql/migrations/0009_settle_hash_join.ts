/**
 * Migration 9: a settle costs the same per run whatever the batch size. settle_runs() joins the
 * batch (an unnest() of its arrays) to the runs it settles. The planner cannot see that every run
 * of a batch is RUNNING (few runs of a table ever are), so below a few hundred runs it expects one
 * matching row and picks a nested loop that reads the whole batch again for each run: a settle of
 * 100 keyed runs took about 51 us per run instead of 29. The UPDATE is now planned without nested
 * loops (it has no other use for them: it reaches the runs through their primary key, by the
 * batch's ids), and everything after it (finish notifications, key counters, whose lookups do want
 * nested loops) runs as separate statements on the settled rows.
 */
import { quoteIdent } from "../../db/names.js";
import { lockSettledSlots, settleUpdate } from "./0005_worker_fast_path.js";
import type { Migration } from "./types.js";

const FINAL = "'SUCCESSFUL','FAILED','CANCELLED','EXPIRED'";

const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** This migration's finish notifications: one per run that reached a final status. */
function notifyEachFinished(schema: string): string {
  return `    PERFORM count(pg_notify(${lit(`${schema}.finished`)}, d.id::text || ':' || d.st))
       FROM unnest(v_ids, v_status) AS d(id, st) WHERE d.st IN (${FINAL});`;
}

function up(schema: string): string {
  return settleRunsReplacement(schema, notifyEachFinished(schema));
}

/**
 * DROP and CREATE of settle_runs() as this migration defines it, with `notifyFinished` (statements
 * over v_ids and v_status, the settled runs) sending the finish notifications, and `beforeUpdate`
 * (statements run after the key counters are locked, before the runs are updated). Migration 11
 * uses it with one notification per batch, migration 13 with workflow locks taken in order.
 */
export function settleRunsReplacement(schema: string, notifyFinished: string, beforeUpdate = ""): string {
  const s = quoteIdent(schema);
  const settle = `${s}.settle_runs(bigint[], uuid[], text[], integer[], bigint[], text[], text[], text[], text[], text[], boolean)`;
  return `
DROP FUNCTION ${settle};

/*
 * As in migrations 5 and 8: settles a batch held by the caller (fenced by lease_token) and returns
 * the runs it settled; notifies waiters of the runs that finished; with p_keyed, locks the key
 * counters first and takes the settled runs off them, per batch (the track_slots trigger stands
 * down for these rows).
 */
CREATE FUNCTION ${s}.settle_runs(p_ids bigint[], p_tokens uuid[], p_status text[], p_refund integer[],
                                 p_delay_ms bigint[], p_return text[], p_error text[], p_last_error text[],
                                 p_meta text[], p_logs text[], p_keyed boolean)
RETURNS TABLE (result_id bigint, status text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_nestloop text := current_setting('enable_nestloop');
  v_ids bigint[];
  v_status text[];
  v_ckeys text[];
  v_climits integer[];
  v_lkeys text[];
BEGIN
  IF p_keyed THEN
${lockSettledSlots(s)}
    PERFORM set_config('reproq.slots_counted', 'on', true);
  END IF;
${beforeUpdate}  -- Finish notifications are sent below for the rows this UPDATE changes directly; the per-row
  -- trigger still sends them for rows that cascading triggers change (trigger depth > 0).
  PERFORM set_config('reproq.finish_notified', 'on', true);
  -- No nested loop for this statement alone (see the migration's header): the batch is hashed
  -- once. Its triggers' statements (workflow steps) are single-table lookups, unaffected.
  PERFORM set_config('enable_nestloop', 'off', true);
  WITH done AS (
${settleUpdate(s)}
    RETURNING r.result_id, r.status, r.concurrency_key, r.concurrency_limit, r.lock_key
  )
  SELECT array_agg(d.result_id), array_agg(d.status), array_agg(d.concurrency_key),
         array_agg(d.concurrency_limit), array_agg(d.lock_key)
    INTO v_ids, v_status, v_ckeys, v_climits, v_lkeys
    FROM done d;
  PERFORM set_config('enable_nestloop', v_nestloop, true);
  PERFORM set_config('reproq.finish_notified', 'off', true);
  IF v_ids IS NOT NULL THEN
${notifyFinished}
    IF p_keyed THEN
      -- Every settled run left RUNNING: take it off its keys' counters, locked above.
      UPDATE ${s}.concurrency_slots cs SET running = greatest(cs.running - f.n, 0), updated_at = now()
        FROM (SELECT 'c:' || d.k AS k, count(*)::integer AS n FROM unnest(v_ckeys, v_climits) AS d(k, lim)
               WHERE d.k IS NOT NULL AND d.lim > 0 GROUP BY 1
              UNION ALL
              SELECT 'l:' || d.k, count(*)::integer FROM unnest(v_lkeys) AS d(k) WHERE d.k IS NOT NULL GROUP BY 1) f
       WHERE cs.key = f.k;
      -- A key was freed: wake the workers whose candidates it held back.
      IF FOUND THEN PERFORM pg_notify(${lit(`${schema}.enqueued`)}, '{"*":0}'); END IF;
    END IF;
  END IF;
  IF p_keyed THEN PERFORM set_config('reproq.slots_counted', 'off', true); END IF;
  RETURN QUERY SELECT d.id, d.st FROM unnest(v_ids, v_status) AS d(id, st);
END
$fn$;
-- As in migration 5: no JIT, and a plan for each batch (the arrays are then constants).
ALTER FUNCTION ${settle} SET jit = off;
ALTER FUNCTION ${settle} SET plan_cache_mode = force_custom_plan;
`;
}

export const migration0009: Migration = { version: 9, name: "settle_hash_join", up };
