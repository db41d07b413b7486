/**
 * The worker's batch statements must reach their runs through the primary key whatever the
 * planner's statistics say. Statistics taken while nothing ran make task_runs_lease_idx (RUNNING
 * runs) look empty, and a status test the planner can match to that index's predicate then walks
 * every running run of every worker for each statement. Checked on the index's scan counter.
 */
import { describe, expect, it } from "vitest";
import { getBackend, task } from "../../src/index.js";
import { expireRuns } from "../../src/sql/maintenance.js";
import { heartbeatRuns, settleRuns } from "../../src/sql/worker.js";
import { claimDefault, successes } from "../support/hot-path.js";
import { useReproq } from "../support/reproq.js";
import { pastExpiry } from "../support/wait.js";

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

  it("the claim loop's expiry check probes the expiry index, never scans the runs", async () => {
    await getBackend().bulkEnqueue(Array.from({ length: 2000 }, (_, i) => [noop, [i]] as const));
    const late = await noop.using({ expiresIn: "1ms" }).enqueue(-1);
    const client = await ctx.db.pool.connect();
    try {
      await client.query("ANALYZE reproq.task_runs");
      const scans = async () => {
        await client.query("SELECT pg_stat_force_next_flush()");
        await client.query("SELECT pg_stat_clear_snapshot()");
        const { rows } = await client.query<{ seq: string; expiry: string }>(
          `SELECT t.seq_scan AS seq, i.idx_scan AS expiry
             FROM pg_stat_user_tables t, pg_stat_user_indexes i
            WHERE t.schemaname = 'reproq' AND t.relname = 'task_runs' AND i.indexrelname = 'task_runs_expiry_idx'`,
        );
        return { seq: Number(rows[0]!.seq), expiry: Number(rows[0]!.expiry) };
      };
      await pastExpiry(ctx.db.pool, late.id);
      const before = await scans();
      const expired = await expireRuns(client, "reproq", 500, {
        queues: { names: ["default"], patterns: [] },
      });
      expect(expired.map((r) => r.result_id)).toEqual([late.id]);
      const after = await scans();
      expect(after.seq).toBe(before.seq);
      expect(after.expiry).toBeGreaterThan(before.expiry);
    } finally {
      client.release();
    }
  });
});
