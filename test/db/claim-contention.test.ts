/**
 * Claims never wait for a key counter's lock: a settle holding a counter while it waits for a run
 * the claim has locked would otherwise deadlock with it (migration 12). Settles take their
 * workflows' locks in one order (migration 13).
 */
import { describe, expect, it } from "vitest";
import { chord, getBackend, task } from "../../src/index.js";
import { claimRuns } from "../../src/sql/worker.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();
const keyed = task("contention.keyed", async (i: number) => i);
const flaky = task(
  "contention.flaky",
  { maxAttempts: 3, retry: { base: "10ms", cap: "20ms", jitter: 0 }, takesContext: true },
  async ({ attempt }, i: number) => {
    if (i % 10 === 0 && attempt === 1) throw new Error("fails once");
    return i;
  },
);
const queues = { names: ["contention"], patterns: [] };
const part = task("contention.part", async (i: number) => i);
const callback = task("contention.callback", async () => "done");

async function deadlocks(): Promise<number> {
  await ctx.db.pool.query("SELECT pg_stat_force_next_flush()");
  const { rows } = await ctx.db.pool.query<{ n: string }>(
    "SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number(rows[0]!.n);
}

describe("claims and key counters held elsewhere", () => {
  it("leave the runs of a held counter for the next claim instead of waiting, and say so", async () => {
    const first = await keyed
      .using({ queue: "contention", concurrencyKey: "acct:1", concurrencyLimit: 2 })
      .enqueue(1);
    const plain = await keyed.using({ queue: "contention", priority: -1 }).enqueue(2);
    await ctx.db.pool.query(
      "INSERT INTO reproq.concurrency_slots (key) VALUES ('c:acct:1') ON CONFLICT DO NOTHING",
    );
    const holder = await ctx.db.pool.connect();
    const claimer = await ctx.db.pool.connect();
    try {
      // As a settle does: the counter locked, its transaction still open.
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM reproq.concurrency_slots WHERE key = 'c:acct:1' FOR UPDATE");
      // A claim that waited would hit this instead of returning.
      await claimer.query("SET statement_timeout = '5s'");
      const blocked = await claimRuns(claimer, "reproq", {
        workerId: "w",
        limit: 10,
        leaseMs: 60_000,
        queues,
      });
      expect(blocked.runs.map((r) => r.result_id)).toEqual([plain.id]);
      expect(blocked.contended).toBe(true);
      expect(blocked.retryAfterMs).toBeNull();
      await holder.query("COMMIT");
      const freed = await claimRuns(claimer, "reproq", { workerId: "w", limit: 10, leaseMs: 60_000, queues });
      expect(freed.runs.map((r) => r.result_id)).toEqual([first.id]);
      expect(freed.contended).toBe(false);
    } finally {
      await holder.query("ROLLBACK").catch(() => {});
      holder.release();
      claimer.release();
    }
  });

  it("three workers drain keyed, lock-keyed and retried runs with no deadlock", async () => {
    const total = 3000;
    const items = Array.from({ length: total }, (_, i) => {
      if (i % 3 === 0)
        return [
          flaky,
          [i],
          { queue: "contention", concurrencyKey: `c${i % 30}`, concurrencyLimit: 2 },
        ] as const;
      if (i % 3 === 1) return [flaky, [i], { queue: "contention", lockKey: `l${i % 30}` }] as const;
      return [flaky, [i], { queue: "contention" }] as const;
    });
    const runs = await getBackend().bulkEnqueue(items);
    const before = await deadlocks();
    for (let i = 0; i < 3; i++) await startWorker({ queues: ["contention"], concurrency: 20 });
    await eventually(async () => {
      const { rows } = await ctx.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM reproq.task_runs WHERE queue_name = 'contention' AND status = 'SUCCESSFUL'",
      );
      return rows[0]!.n === total;
    }, 60_000);
    expect(await deadlocks()).toBe(before);
    const { rows } = await ctx.db.pool.query<{ key: string; running: number }>(
      "SELECT key, running FROM reproq.concurrency_slots WHERE running <> 0 AND key ~ '^(c:c|l:l)[0-9]+$'",
    );
    expect(rows).toEqual([]);
    expect(runs).toHaveLength(total);
  });

  it("three workers settle the members of many chords with no deadlock, each callback once", {
    timeout: 90_000,
  }, async () => {
    const chords = 1200;
    const queue = "contention-wf";
    const enqueued = await Promise.all(
      Array.from({ length: chords }, (_, c) =>
        chord(
          [1, 2, 3, 4].map((k) => [part, [c * 10 + k], { queue }] as const),
          [callback, [], { queue }],
        ).enqueue(),
      ),
    );
    const before = await deadlocks();
    for (let i = 0; i < 3; i++) await startWorker({ queues: [queue], concurrency: 20 });
    await eventually(async () => {
      const { rows } = await ctx.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM reproq.task_runs WHERE queue_name = $1 AND status = 'SUCCESSFUL'",
        [queue],
      );
      return rows[0]!.n === chords * 5;
    }, 60_000);
    expect(await deadlocks()).toBe(before);
    const fired = await Promise.all(enqueued.map((c) => c.callback.refresh()));
    expect(fired.every((run) => run.status === "SUCCESSFUL" && run.attempts === 1)).toBe(true);
  });
});
