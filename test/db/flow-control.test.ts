import { describe, expect, it } from "vitest";
import {
  deleteRateLimit,
  listRateLimits,
  pauseQueue,
  resumeQueue,
  setRateLimit,
  task,
} from "../../src/index.js";
import { runMaintenance } from "../../src/maintenance/passes.js";
import { claimRuns, settleRuns } from "../../src/sql/worker.js";
import { useReproq } from "../support/reproq.js";
import { maxOverlap, type Span } from "../support/spans.js";
import { eventually, sleep } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const spans = new Map<string, Span[]>();
const hold = task("flow.hold", async (group: string, ms: number, _tag: number) => {
  const span = { start: performance.now(), end: 0 };
  await sleep(ms);
  span.end = performance.now();
  const list = spans.get(group) ?? [];
  list.push(span);
  spans.set(group, list);
  return span;
});

describe("lock keys and concurrency limits", () => {
  it("never runs two runs with the same lock key at once", async () => {
    await startWorker({ concurrency: 10, queues: ["lock"] });
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        hold.using({ queue: "lock", lockKey: "account:1" }).enqueue("lock", 30, i),
      ),
    );
    await Promise.all(runs.map((r) => r.wait({ timeout: 20_000 })));
    expect(runs.every((r) => r.status === "SUCCESSFUL")).toBe(true);
    expect(maxOverlap(spans.get("lock")!)).toBe(1);
  });

  it("keeps at most N runs of a concurrency key running, and uses all N", async () => {
    await startWorker({ concurrency: 10, queues: ["conc"] });
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        hold.using({ queue: "conc", concurrencyKey: "user:7", concurrencyLimit: 3 }).enqueue("conc", 300, i),
      ),
    );
    await Promise.all(runs.map((r) => r.wait({ timeout: 20_000 })));
    expect(maxOverlap(spans.get("conc")!)).toBe(3);
    const { rows } = await ctx.db.pool.query(
      "SELECT running FROM reproq.concurrency_slots WHERE key = 'c:user:7'",
    );
    expect(rows[0].running).toBe(0);
  });

  it("keeps key counters exact however a run leaves RUNNING", async () => {
    const counted = task("flow.counted", async (n: number) => n);
    const key = { queue: "counted", concurrencyKey: "acct:1", concurrencyLimit: 10 } as const;
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => counted.using(key).enqueue(i)));
    const locked = await counted.using({ queue: "counted", lockKey: "doc:9" }).enqueue(99);
    const running = async () => {
      const { rows } = await ctx.db.pool.query<{ key: string; running: number }>(
        "SELECT key, running FROM reproq.concurrency_slots WHERE key IN ('c:acct:1', 'l:doc:9') ORDER BY key",
      );
      return Object.fromEntries(rows.map((r) => [r.key, r.running]));
    };
    const queues = { names: ["counted"], patterns: [] };
    const client = await ctx.db.pool.connect();
    try {
      // A claim counts its batch in one statement; in the same transaction, a later status change
      // by other SQL is still counted by the trigger (the claim's stand-down ended with it).
      await client.query("BEGIN");
      const { runs: claimed } = await claimRuns(client, "reproq", {
        workerId: "w",
        limit: 10,
        leaseMs: 60_000,
        queues,
      });
      expect(claimed).toHaveLength(7);
      const byId = new Map(claimed.map((r) => [r.result_id, r]));
      await client.query(
        "UPDATE reproq.task_runs SET status = 'READY', lease_token = NULL, leased_by = NULL, leased_until = NULL WHERE result_id = $1",
        [runs[0]!.id],
      );
      await client.query("COMMIT");
      expect(await running()).toEqual({ "c:acct:1": 5, "l:doc:9": 1 });

      // Settles count their batch: a success, a retry and a release, and the lock key's run.
      const fence = (id: string) => ({ resultId: id, leaseToken: byId.get(id)!.lease_token, keyed: true });
      const none = { metadataJson: null, logsUri: null };
      await settleRuns(client, "reproq", [
        { ...fence(runs[1]!.id), ...none, outcome: { kind: "success" }, returnJson: "1" },
        {
          ...fence(runs[2]!.id),
          ...none,
          outcome: { kind: "retry", delayMs: 60_000 },
          errorJson: null,
          lastError: null,
        },
        { ...fence(runs[3]!.id), ...none, outcome: { kind: "release" }, errorJson: null, lastError: null },
        { ...fence(locked.id), ...none, outcome: { kind: "success" }, returnJson: "99" },
      ]);
      expect(await running()).toEqual({ "c:acct:1": 2, "l:doc:9": 0 });

      // The lease reaper and a deleted row go through the trigger.
      await client.query(
        "UPDATE reproq.task_runs SET leased_until = now() - interval '1 second' WHERE result_id = $1",
        [runs[4]!.id],
      );
      expect((await runMaintenance(client, "reproq", { retainSuccessful: 0, retainFailed: 0 })).reaped).toBe(
        1,
      );
      expect(await running()).toEqual({ "c:acct:1": 1, "l:doc:9": 0 });
      await client.query("DELETE FROM reproq.task_runs WHERE result_id = $1", [runs[5]!.id]);
      expect(await running()).toEqual({ "c:acct:1": 0, "l:doc:9": 0 });
    } finally {
      client.release();
    }
  });

  it("takes the key function from the task definition (limits_concurrency)", async () => {
    const perUser = task(
      "flow.per-user",
      { concurrency: { key: (user: number) => `u:${user}`, limit: 1 }, queue: "def" },
      async (user: number, ms: number) => {
        const span = { start: performance.now(), end: 0 };
        await sleep(ms);
        span.end = performance.now();
        const list = spans.get(`def-${user}`) ?? [];
        list.push(span);
        spans.set(`def-${user}`, list);
      },
    );
    await startWorker({ concurrency: 8, queues: ["def"] });
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => perUser.enqueue(i % 2, 40 + i)));
    await Promise.all(runs.map((r) => r.wait({ timeout: 20_000 })));
    expect(maxOverlap(spans.get("def-0")!)).toBe(1);
    expect(maxOverlap(spans.get("def-1")!)).toBe(1);
  });

  it("does not let a saturated key hold back the runs behind it", async () => {
    await startWorker({ concurrency: 4, queues: ["hol"] });
    const blocker = await hold
      .using({ queue: "hol", lockKey: "busy", priority: 100 })
      .enqueue("hol-busy", 3000, 0);
    await eventually(async () => (await blocker.refresh()).status === "RUNNING");
    // Many higher-priority runs wait for the busy key; an unrelated low-priority run must still start.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        hold.using({ queue: "hol", lockKey: "busy", priority: 90 }).enqueue("hol-busy", 10, i + 1),
      ),
    );
    const unrelated = await hold.using({ queue: "hol", priority: -50 }).enqueue("hol-free", 10, 0);
    await unrelated.wait({ timeout: 10_000 });
    expect((await blocker.refresh()).status).toBe("RUNNING");
    expect(unrelated.status).toBe("SUCCESSFUL");
  });
});

/** Waits until some run of the queue started `seconds` or more after its first: a measuring window has closed. */
async function startedPast(queue: string, seconds: number): Promise<void> {
  await eventually(async () => {
    const { rows } = await ctx.db.pool.query<{ past: boolean }>(
      `SELECT max(started_at) >= min(started_at) + $2 * interval '1 second' AS past
         FROM reproq.task_runs WHERE queue_name = $1 AND started_at IS NOT NULL`,
      [queue, seconds],
    );
    return rows[0]?.past;
  }, 20_000);
}

describe("rate limits", () => {
  it("validates input and lists buckets", async () => {
    await expect(setRateLimit({ key: "queues:x", rate: 1 })).rejects.toThrow(/not valid/);
    await expect(setRateLimit({ key: "global", rate: -1 })).rejects.toThrow(/rate must be/);
    await expect(setRateLimit({ key: "global", rate: 1, burst: 0 })).rejects.toThrow(/burst must be/);
    const set = await setRateLimit({ key: "queue:listed", rate: 2.5 });
    expect(set).toMatchObject({ key: "queue:listed", rate: 2.5, burst: 3, available: 3 });
    expect((await listRateLimits()).map((l) => l.key)).toContain("queue:listed");
    expect(await deleteRateLimit("queue:listed")).toBe(true);
    expect(await deleteRateLimit("queue:listed")).toBe(false);
  });

  it("holds a queue to its rate (within 10% over 10 s), shared by two workers", async () => {
    const rate = 20;
    // The default burst (the rate rounded up) absorbs claim latency; see docs/flow-control.md.
    await setRateLimit({ key: "queue:rl", rate });
    const fast = task("flow.fast", async (n: number) => n);
    await Promise.all(Array.from({ length: 400 }, (_, i) => fast.using({ queue: "rl" }).enqueue(i)));
    await startWorker({ concurrency: 10, queues: ["rl"] });
    await startWorker({ concurrency: 10, queues: ["rl"] });
    await startedPast("rl", 11);
    // Steady state: skip the first second (the initial burst), then count starts for 10 s.
    const { rows } = await ctx.db.pool.query(
      `WITH first AS (SELECT min(started_at) AS t FROM reproq.task_runs WHERE queue_name = 'rl' AND started_at IS NOT NULL)
       SELECT count(*)::int AS n FROM reproq.task_runs, first
        WHERE queue_name = 'rl' AND started_at >= first.t + interval '1 second'
          AND started_at < first.t + interval '11 seconds'`,
    );
    const started = rows[0].n;
    expect(started).toBeGreaterThanOrEqual(rate * 10 * 0.9);
    expect(started).toBeLessThanOrEqual(rate * 10 * 1.1);
    await deleteRateLimit("queue:rl");
  }, 30_000);

  it("holds a burst of 1 to its rate: a claim that comes late keeps its credit", async () => {
    const rate = 100;
    await setRateLimit({ key: "queue:rl1", rate, burst: 1 });
    const quick = task("flow.quick", async (n: number) => n);
    await Promise.all(Array.from({ length: 600 }, (_, i) => quick.using({ queue: "rl1" }).enqueue(i)));
    await startWorker({ concurrency: 10, queues: ["rl1"] });
    await startedPast("rl1", 3.5);
    const { rows } = await ctx.db.pool.query<{ n: number; closest_ms: number }>(
      `WITH s AS (SELECT started_at FROM reproq.task_runs WHERE queue_name = 'rl1' AND started_at IS NOT NULL),
            first AS (SELECT min(started_at) AS t FROM s),
            w AS (SELECT started_at FROM s, first
                   WHERE started_at >= first.t + interval '0.5 second' AND started_at < first.t + interval '3.5 seconds'),
            gaps AS (SELECT started_at - lag(started_at) OVER (ORDER BY started_at) AS gap FROM s)
       SELECT (SELECT count(*)::int FROM w) AS n,
              (SELECT extract(epoch FROM min(gap)) * 1000 FROM gaps)::float8 AS closest_ms`,
    );
    // 300 starts due in the 3 s window. Claim round trips used to be lost: about 150-175/s.
    expect(rows[0]!.n).toBeGreaterThanOrEqual(rate * 3 * 0.9);
    expect(rows[0]!.n).toBeLessThanOrEqual(rate * 3 * 1.1);
    // One at a time (burst 1), and never more than the 20 ms tolerance sooner than 1 / rate.
    expect(rows[0]!.closest_ms).toBeGreaterThanOrEqual(1000 / rate - 20);
    await deleteRateLimit("queue:rl1");
  }, 20_000);

  it("keeps up to 20 ms of credit beyond a full bucket, less than one whole token", async () => {
    await setRateLimit({ key: "queue:tol", rate: 10, burst: 1 });
    const quick = task("flow.tolerance", async (n: number) => n);
    await Promise.all([1, 2, 3].map((n) => quick.using({ queue: "tol" }).enqueue(n)));
    // Idle for a second: ten tokens' worth of time, of which the bucket keeps 1 + 10/s x 20 ms.
    await ctx.db.pool.query(
      "UPDATE reproq.rate_limits SET current_tokens = 1, last_refilled_at = clock_timestamp() - interval '1 second' WHERE key = 'queue:tol'",
    );
    const { rows } = await ctx.db.pool.query<{ result_id: string | null; retry_after_ms: string | null }>(
      "SELECT result_id, retry_after_ms FROM reproq.claim_runs('test', 3, 60000, '{tol}', '{}')",
    );
    // One run (burst 1), then 0.2 tokens left: the next is due in 80 ms, not a whole 100 ms.
    expect(rows.filter((r) => r.result_id !== null)).toHaveLength(1);
    const retryAfter = Number(rows.find((r) => r.result_id === null)?.retry_after_ms);
    expect(retryAfter).toBeGreaterThanOrEqual(75);
    expect(retryAfter).toBeLessThanOrEqual(80);
    await deleteRateLimit("queue:tol");
  });

  it("lets a task bucket override its queue's, and ignores buckets with rate 0", async () => {
    const limited = task("flow.limited", async (n: number) => n);
    const other = task("flow.other", async (n: number) => n);
    await setRateLimit({ key: "queue:prec", rate: 1000, burst: 1000 });
    await setRateLimit({ key: "task:flow.limited", rate: 0.001, burst: 1 });
    // A rate-0 task bucket must not shadow (and so lift) the queue's limit.
    await setRateLimit({ key: "task:flow.other", rate: 0 });
    await startWorker({ concurrency: 5, queues: ["prec"] });
    const limitedRuns = await Promise.all([1, 2, 3].map((n) => limited.using({ queue: "prec" }).enqueue(n)));
    const otherRuns = await Promise.all([1, 2, 3].map((n) => other.using({ queue: "prec" }).enqueue(n)));
    // The limited runs come first in claim order and the claim limit (5) covers all six: the claims
    // that took the other runs passed over two of them.
    await Promise.all(otherRuns.map((r) => r.wait({ timeout: 10_000 })));
    const statuses = await eventually(async () => {
      const now = await Promise.all(limitedRuns.map(async (r) => (await r.refresh()).status));
      return now.includes("SUCCESSFUL") ? now : null;
    });
    expect(statuses.filter((s) => s === "SUCCESSFUL")).toHaveLength(1);
    expect(statuses.filter((s) => s === "READY")).toHaveLength(2);
    for (const key of ["queue:prec", "task:flow.limited", "task:flow.other"]) await deleteRateLimit(key);
  });
});

describe("pause and resume", () => {
  it("claims nothing from a paused queue while running work finishes", async () => {
    await startWorker({ concurrency: 4, queues: ["pq", "pq-probe"] });
    const running = await hold.using({ queue: "pq" }).enqueue("pq", 500, 0);
    await eventually(async () => (await running.refresh()).status === "RUNNING");
    const paused = await pauseQueue("pq", { reason: "maintenance" });
    expect(paused).toMatchObject({ queue: "pq", paused: true, reason: "maintenance" });
    const waiting = await hold.using({ queue: "pq" }).enqueue("pq", 10, 1);
    await running.wait({ timeout: 10_000 });
    expect(running.status).toBe("SUCCESSFUL");
    // A probe in an unpaused queue, behind the waiting run in claim order: the claim that takes it
    // would have taken the waiting run first.
    const probe = await hold.using({ queue: "pq-probe", priority: -100 }).enqueue("pq-probe", 0, 0);
    await probe.wait({ timeout: 10_000 });
    expect((await waiting.refresh()).status).toBe("READY");
    expect((await resumeQueue("pq")).paused).toBe(false);
    await waiting.wait({ timeout: 10_000 });
    expect(waiting.status).toBe("SUCCESSFUL");
  });
});

describe("expiry", () => {
  it("ends a run that could not start before its deadline EXPIRED, never started", async () => {
    await startWorker({ concurrency: 2, queues: ["exp"], maintenanceInterval: "200ms" });
    const holder = await hold.using({ queue: "exp", lockKey: "exp-lock" }).enqueue("exp", 1500, 0);
    await eventually(async () => (await holder.refresh()).status === "RUNNING");
    const late = await hold
      .using({ queue: "exp", lockKey: "exp-lock", expiresIn: "300ms" })
      .enqueue("exp", 10, 1);
    await late.wait({ timeout: 10_000 });
    expect([late.status, late.startedAt, late.attempts]).toEqual(["EXPIRED", null, 0]);
    expect(late.errors[0]?.kind).toBe("expired");
  });
});
