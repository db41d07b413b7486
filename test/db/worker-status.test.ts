/**
 * The worker's public status snapshot and events: what /metrics, /healthz, the event stream and
 * the terminal UI are built on. Every figure here must match what the worker actually did.
 */
import { describe, expect, it } from "vitest";
import { cancel, getBackend, type RunEvent, task, type WorkerState } from "../../src/index.js";
import { useReproq } from "../support/reproq.js";
import { eventually, pastExpiry } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const gates = new Map<string, () => void>();
const gated = task("status.gated", { queue: "status-q" }, (key: string) => {
  return new Promise<string>((resolve) => gates.set(key, () => resolve(key)));
});
const flaky = task(
  "status.flaky",
  { queue: "status-q", maxAttempts: 2, retry: { base: "1ms", cap: "1ms" } },
  () => {
    throw new Error("always");
  },
);
const objectThrower = task("status.object", { queue: "status-q", maxAttempts: 1 }, () => {
  throw { code: 42 };
});

describe("worker.status()", () => {
  it("shows in-flight runs with task, queue, start and deadline, and counts outcomes by queue and task", async () => {
    const worker = await startWorker({ queues: ["status-q"], concurrency: 4, workerId: "status-worker" });
    const before = Date.now();
    const held = await gated.using({ timeout: "90s" }).enqueue("a");
    const running = await eventually(() => worker.status().inFlight.find((run) => run.id === held.id));
    expect(running).toMatchObject({
      taskName: "status.gated",
      queue: "status-q",
      attempt: 1,
      maxAttempts: 3,
    });
    const startedAt = Date.parse(running.startedAt);
    expect(startedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(running.deadline) - startedAt).toBe(90_000);

    const status = worker.status();
    expect(status).toMatchObject({
      workerId: "status-worker",
      state: "running",
      queues: ["status-q"],
      concurrency: 4,
    });
    expect(status.isolation).toBe("in-process");
    expect(status.counts.total.claimed).toBe(1);
    expect(status.pool.max).toBeGreaterThan(0);
    expect(status.memory.rssBytes).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);

    gates.get("a")?.();
    await held.wait({ timeout: 10_000 });
    const failing = await flaky.enqueue();
    await failing.wait({ timeout: 10_000 }).catch(() => {});
    const thrown = await objectThrower.enqueue();
    await thrown.wait({ timeout: 10_000 }).catch(() => {});
    await eventually(() => worker.status().counts.total.failed === 2);

    const { counts } = worker.status();
    expect(counts.byTask["status.gated"]).toMatchObject({ claimed: 1, succeeded: 1, failed: 0 });
    expect(counts.byTask["status.flaky"]).toMatchObject({ claimed: 2, retried: 1, failed: 1 });
    expect(counts.byTask["status.object"]).toMatchObject({ claimed: 1, failed: 1 });
    expect(counts.byQueue["status-q"]).toMatchObject({ claimed: 4, succeeded: 1, retried: 1, failed: 2 });
    expect(counts.total).toMatchObject({ claimed: 4, succeeded: 1, retried: 1, failed: 2, cancelled: 0 });
    expect(worker.status().inFlight).toEqual([]);
    expect(worker.status().lastClaimAt).not.toBeNull();
    // A thrown object is stored as it prints.
    expect((await thrown.refresh()).lastError).toBe("{ code: 42 }");
  });

  it("counts a cancel while running, and reclaims and expiries done by its maintenance pass", async () => {
    const worker = await startWorker({ queues: ["status-q"], maintenanceInterval: 200 });
    const held = await gated.enqueue("cancel-me");
    await eventually(() => worker.status().inFlight.some((run) => run.id === held.id));
    await cancel(held.id);
    await eventually(() => worker.status().counts.total.cancelled === 1);
    expect(worker.status().counts.byTask["status.gated"]?.cancelled).toBe(1);

    const ghost = await gated.using({ queue: "status-ghost" }).enqueue("ghost");
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = 'RUNNING', attempts = 1, leased_by = 'ghost', lease_token = gen_random_uuid(),
              leased_until = now() - interval '1 second' WHERE result_id = $1`,
      [ghost.id],
    );
    const late = await gated.using({ queue: "status-nobody", expiresIn: "1ms" }).enqueue("late");
    await pastExpiry(ctx.db.pool, late.id);
    await eventually(
      () => worker.status().counts.total.expired >= 1 && worker.status().counts.total.reclaimed >= 1,
    );
    const { byQueue } = worker.status().counts;
    expect(byQueue["status-ghost"]?.reclaimed).toBe(1);
    expect(byQueue["status-nobody"]?.expired).toBe(1);
    expect(worker.status().lastMaintenanceAt).not.toBeNull();
    expect((await ghost.refresh()).status).toBe("READY");
  });
});

describe("worker events", () => {
  it("tells listeners about claims, starts, successes and its own state", async () => {
    const worker = await startWorker({ queues: ["status-events"] });
    const seen: string[] = [];
    const states: WorkerState[] = [];
    const note = (what: string) => (run: RunEvent) => seen.push(`${what}:${run.taskName}`);
    worker.on("claimed", note("claimed")).on("started", note("started")).on("succeeded", note("succeeded"));
    worker.on("state", ({ state }) => states.push(state));
    const run = await gated.using({ queue: "status-events" }).enqueue("events");
    await eventually(() => gates.has("events"));
    gates.get("events")?.();
    await run.wait({ timeout: 10_000 });
    await eventually(() => seen.length === 3);
    expect(seen).toEqual(["claimed:status.gated", "started:status.gated", "succeeded:status.gated"]);
    await worker.stop();
    expect(states).toEqual(["stopping", "stopped"]);
    expect(worker.status().state).toBe("stopped");
  });
});

describe("the run feed", () => {
  it("delivers enqueued and finished events of the backend's database", async () => {
    const feed = await getBackend().feed();
    const events: string[] = [];
    const unsubscribe = await feed.subscribe(["enqueued", "finished"], (event) => {
      if (event.type === "enqueued")
        events.push(`enqueued:${Object.keys(event.queues ?? { "*": 0 }).join(",")}`);
      else events.push(`finished:${event.id}:${event.status}`);
    });
    try {
      const run = await gated.using({ queue: "status-feed" }).enqueue("feed");
      await eventually(() => events.includes("enqueued:status-feed"));
      await startWorker({ queues: ["status-feed"] });
      await eventually(() => gates.has("feed"));
      gates.get("feed")?.();
      await run.wait({ timeout: 10_000 });
      await eventually(() => events.includes(`finished:${run.id}:SUCCESSFUL`));
    } finally {
      unsubscribe();
    }
  });
});
