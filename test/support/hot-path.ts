/** For tests that drive the worker's statements (claimRuns, settleRuns) directly. */
import type { Queryable } from "../../src/db/pool.js";
import { type ClaimedRunRow, claimRuns, type SettleRecord } from "../../src/sql/worker.js";

/** Claims up to `limit` runs of the default queue in schema "reproq", with a 60 s lease. */
export async function claimDefault(db: Queryable, workerId: string, limit: number): Promise<ClaimedRunRow[]> {
  const queues = { names: ["default"], patterns: [] };
  const { runs } = await claimRuns(db, "reproq", { workerId, limit, leaseMs: 60_000, queues });
  return runs;
}

/** A success (returning null) for each claimed run. */
export function successes(runs: readonly ClaimedRunRow[]): SettleRecord[] {
  return runs.map((run) => ({
    resultId: run.result_id,
    leaseToken: run.lease_token,
    keyed: run.keyed,
    outcome: { kind: "success" },
    returnJson: "null",
    metadataJson: null,
    logsUri: null,
  }));
}
