/**
 * A settled batch tells listeners about its finished runs in a few notifications, not one per run,
 * and every waiter still wakes.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { getBackend, task } from "../../src/index.js";
import { FINISHED_PER_NOTIFICATION } from "../../src/sql/migrations/0011_batched_finish_notify.js";
import { settleRuns } from "../../src/sql/worker.js";
import { claimDefault, successes } from "../support/hot-path.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";

const ctx = useReproq();
const noop = task("notify.noop", async (i: number) => i);

describe("finish notifications of a settled batch", () => {
  it("come a few hundred runs per notification, name every run once, and the run feed reads every run", async () => {
    const total = 600;
    const runs = await getBackend().bulkEnqueue(
      Array.from({ length: total }, (_, i) => [noop, [i]] as const),
    );
    const listener = new pg.Client({ connectionString: ctx.db.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on("notification", (n) => {
      if (n.channel === "reproq.finished" && n.payload) payloads.push(n.payload);
    });
    await listener.query('LISTEN "reproq.finished"');
    const fed = new Map<string, string>();
    const feed = await getBackend().feed();
    const off = await feed.subscribe(["finished"], (event) => fed.set(event.id, event.status));
    const client = await ctx.db.pool.connect();
    try {
      const claimed = await claimDefault(client, "w", total);
      expect(claimed).toHaveLength(total);
      expect((await settleRuns(client, "reproq", successes(claimed))).size).toBe(total);
      const expected = Math.ceil(total / FINISHED_PER_NOTIFICATION);
      await eventually(() => payloads.length >= expected);
      const entries = payloads.flatMap((p) => p.split(","));
      expect(payloads).toHaveLength(expected);
      expect(new Set(entries).size).toBe(total);
      expect(entries.sort()).toEqual(runs.map((r) => `${r.id}:SUCCESSFUL`).sort());
      expect(payloads.every((p) => Buffer.byteLength(p) < 8000)).toBe(true);
      // The run feed (behind wait(), the worker and live surfaces) reads each run out of the batch.
      await eventually(() => fed.size === total);
      expect([...fed.values()].every((status) => status === "SUCCESSFUL")).toBe(true);
      expect((await runs[0]!.wait({ timeout: 10_000 })).status).toBe("SUCCESSFUL");
    } finally {
      off();
      client.release();
      await listener.end();
    }
  });
});
