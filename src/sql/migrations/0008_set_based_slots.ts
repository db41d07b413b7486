/**
 * Migration 8: claims and settles count key slots per batch. A run holding a lock key or a
 * limited concurrency key went through the track_slots trigger twice per attempt (a PL/pgSQL call
 * and an upsert of its key's counter on claim, again on settle): about 22 us of PostgreSQL's time
 * per keyed run. claim_runs() and settle_runs() now update each key's counter once per batch, by
 * the number of its runs, under the counter locks they already take in key order; the trigger
 * stands down for the rows they update directly (reproq.slots_counted) and still counts every
 * other change of a run into or out of RUNNING (the lease reaper, cancellations, an operator's
 * SQL, rows that cascading triggers change).
 */
import { quoteIdent } from "../../db/names.js";
import { claimRunsDefinition, settleRunsDefinition } from "./0005_worker_fast_path.js";
import { REFILL_CAP } from "./0007_rate_limit_tolerance.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  const claim = `${s}.claim_runs(text, integer, bigint, text[], text[])`;
  const settle = `${s}.settle_runs(bigint[], uuid[], text[], integer[], bigint[], text[], text[], text[], text[], text[], boolean)`;
  return `
DROP FUNCTION ${claim};
${claimRunsDefinition(schema, REFILL_CAP, true)}
-- As in migrations 2, 5 and 7: an index walk in claim order, never JIT.
ALTER FUNCTION ${claim} SET enable_sort = off;
ALTER FUNCTION ${claim} SET jit = off;

DROP FUNCTION ${settle};
${settleRunsDefinition(schema, true)}
-- As in migration 5: no JIT, and a custom plan for each batch.
ALTER FUNCTION ${settle} SET jit = off;
ALTER FUNCTION ${settle} SET plan_cache_mode = force_custom_plan;

DROP TRIGGER task_runs_track_slots ON ${s}.task_runs;
CREATE TRIGGER task_runs_track_slots AFTER UPDATE OF status ON ${s}.task_runs
  FOR EACH ROW
  WHEN ((OLD.status = 'RUNNING') IS DISTINCT FROM (NEW.status = 'RUNNING')
        AND (NEW.lock_key IS NOT NULL OR (NEW.concurrency_key IS NOT NULL AND NEW.concurrency_limit > 0))
        AND (pg_trigger_depth() > 0
             OR current_setting('reproq.slots_counted', true) IS DISTINCT FROM 'on'))
  EXECUTE FUNCTION ${s}.track_slots();
`;
}

export const migration0008: Migration = { version: 8, name: "set_based_slots", up };
