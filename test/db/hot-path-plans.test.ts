/**
 * The worker's batch statements must reach their runs through the primary key whatever the
 * planner's statistics say. Statistics taken while nothing ran make task_runs_lease_idx (RUNNING
 * runs) look empty, and a status test the planner can match to that index's predicate then walks
 * every running run of every worker for each statement. Checked on the index's scan counter.
 */
import { describe, expect, it } from "vitest";
import { getBackend, task } from "../../src/index.js";
import { heartbeatRuns, settleRuns } from "../../src/sql/worker.js";
import { claimDefault, successes } from "../support/hot-path.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();
const noop = task("plans.noop", async (i: number) => i);

describe("hot-path plans with statistics taken while nothing ran", () => {
  it("claims, heartbeats and settles without scanning the lease index", async () => {
    await getBackend().bulkEnqueue(Array.from({ length: 2000 }, (_, i) => [noop, [i]] as const));
    const client = await ctx.db.pool.connect();
    try {
      await client.query("ANALYZE reproq.task_runs");
      const leaseIndexScans = async () => {
        await client.query("SELECT pg_stat_force_next_flush()");
        await client.query("SELECT pg_stat_clear_snapshot()");
        const { rows } = await client.query<{ n: string }>(
          "SELECT idx_scan AS n FROM pg_stat_user_indexes WHERE indexrelname = 'task_runs_lease_idx'",
        );
        return Number(rows[0]!.n);
      };
      const runs = await claimDefault(client, "w", 500);
      expect(runs).toHaveLength(500);
      const before = await leaseIndexScans();
      const fences = runs.map((r) => ({ resultId: r.result_id, leaseToken: r.lease_token }));
      expect(await heartbeatRuns(client, "reproq", fences, 60_000)).toHaveLength(500);
      const held = await settleRuns(client, "reproq", successes(runs));
      expect(held.size).toBe(500);
      expect(await leaseIndexScans()).toBe(before);
      // settle_runs() plans its UPDATE without nested loops, and leaves the session's setting as it was.
      const { rows } = await client.query<{ enable_nestloop: string }>("SHOW enable_nestloop");
      expect(rows[0]!.enable_nestloop).toBe("on");
    } finally {
      client.release();
    }
  });
});
