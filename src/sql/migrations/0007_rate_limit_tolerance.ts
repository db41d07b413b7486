/**
 * Migration 7: a rate-limited claim that comes late keeps its credit. A bucket used to refill to
 * exactly `burst` tokens, so the time between a token falling due and the next claim reading the
 * bucket was lost whenever the bucket was full: with a burst of 1, every token waited for a claim
 * round trip, and a limit of 200/s reached about 150/s. A bucket may now hold up to 20 ms worth of
 * tokens beyond its burst, less than one whole token: a claim still admits at most `burst` runs at
 * once (runs are admitted per whole token), the long-run rate is exactly the rate, and two starts
 * come at most 20 ms closer together than 1 / rate (the tolerance of the generic cell rate
 * algorithm).
 */
import { quoteIdent } from "../../db/names.js";
import { claimRunsDefinition } from "./0005_worker_fast_path.js";
import type { Migration } from "./types.js";

/** The most tokens a bucket (`rl`) holds after a refill: its burst plus 20 ms of refill, under a token. */
export const REFILL_CAP = "rl.burst_size + least(0.999, rl.tokens_per_second * 0.02)";

function up(schema: string): string {
  const s = quoteIdent(schema);
  const signature = `${s}.claim_runs(text, integer, bigint, text[], text[])`;
  return `
DROP FUNCTION ${signature};
${claimRunsDefinition(schema, REFILL_CAP)}
-- As in migrations 2 and 5: an index walk in claim order, never JIT.
ALTER FUNCTION ${signature} SET enable_sort = off;
ALTER FUNCTION ${signature} SET jit = off;
`;
}

export const migration0007: Migration = { version: 7, name: "rate_limit_tolerance", up };
