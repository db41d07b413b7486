/**
 * Migration 12: a claim never waits for a key counter's lock, so claims and settles cannot
 * deadlock. A claim locks its candidate runs first (FOR UPDATE SKIP LOCKED); when another claim
 * took a candidate between the scan's snapshot and the lock, PostgreSQL locks the run's newer
 * version and then passes it over, and the lock stays until the claim commits. The worker that
 * took that run may be settling it already: its settle holds the run's key counters (locked in key
 * order) and waits for the run. The claim used to wait for those counters in turn (round one
 * created and locked every counter it needed, waiting), and PostgreSQL broke the cycle by rolling
 * one of them back: about one deadlock per 10,000 keyed runs with three workers. Now a claim creates
 * only counters that do not exist (in its first round, in one key-ordered statement, so two claims
 * creating counters cannot wait on each other either) and locks the others with SKIP LOCKED; runs whose counters are
 * held elsewhere are left for the next claim, and the claim returns retry_after_ms 0 so the worker
 * claims again at once.
 */
import { quoteIdent } from "../../db/names.js";
import { claimRunsDefinition } from "./0005_worker_fast_path.js";
import { REFILL_CAP } from "./0007_rate_limit_tolerance.js";
import type { Migration } from "./types.js";

function up(schema: string): string {
  const s = quoteIdent(schema);
  const claim = `${s}.claim_runs(text, integer, bigint, text[], text[])`;
  return `
DROP FUNCTION ${claim};
${claimRunsDefinition(schema, REFILL_CAP, true, false)}
-- As in migrations 2, 5, 7 and 8: an index walk in claim order, never JIT.
ALTER FUNCTION ${claim} SET enable_sort = off;
ALTER FUNCTION ${claim} SET jit = off;
`;
}

export const migration0012: Migration = { version: 12, name: "claims_never_wait", up };
