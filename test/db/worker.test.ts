import { describe, expect, it } from "vitest";
import { cancel, getResult, NonRetryableError, SchemaError, snooze, task } from "../../src/index.js";
import { runMaintenance } from "../../src/maintenance/passes.js";
import { useReproq } from "../support/reproq.js";
import { eventually, pastExpiry, sleep } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const order: string[] = [];
const record = task("w.record", async (label: string) => {
  order.push(label);
  return label;
});

describe("claiming", () => {
  it("runs by priority, then run_after, then id", async () => {
    order.length = 0;
    const past = (s: number) => new Date(Date.now() - s * 1000);
    await record.using({ priority: 0 }).enqueue("p0");
    await record.using({ priority: 50 }).enqueue("p50-first");
    await record.using({ priority: -10 }).enqueue("p-10");
    await record.using({ priority: 50 }).enqueue("p50-second");
    await record.using({ runAfter: past(2) }).enqueue("p0-due-2s-ago");
    await record.using({ runAfter: past(20) }).enqueue("p0-due-20s-ago");
    await record.using({ runAfter: "1h" }).enqueue("not-due");
    const worker = await startWorker({ concurrency: 1 });
    await eventually(async () => order.length === 6);
    expect(order).toEqual(["p50-first", "p50-second", "p0-due-20s-ago", "p0-due-2s-ago", "p0", "p-10"]);
    // A probe behind "not-due" in claim order (lower priority): the claim that takes it would have
    // taken "not-due" first, had that been due.
    const probe = await record.using({ priority: -100 }).enqueue("probe");
    await probe.wait({ timeout: 10_000 });
    expect(order).toEqual([
      "p50-first",
      "p50-second",
      "p0-due-20s-ago",
      "p0-due-2s-ago",
      "p0",
      "p-10",
      "probe",
    ]);
    await worker.stop();
  });

  it("wakes an idle worker by NOTIFY, long before its poll interval", async () => {
    // Enqueued before the worker listens, so only its first claim takes it; once it has run, that
    // claim is over and the worker is idle. The next poll is past the test's own timeout: only the
    // NOTIFY can make it claim the second run.
    const first = await record.enqueue("before-start");
    await startWorker({ pollInterval: 60_000 });
    await first.wait({ timeout: 10_000 });
    const r = await record.enqueue("notify");
    await r.wait({ timeout: 20_000 });
    expect(r.returnValue).toBe("notify");
  });

  it("never claims from a paused queue, and resumes", async () => {
    await ctx.db.pool.query(
      "INSERT INTO reproq.queue_controls (queue_name, paused, paused_at) VALUES ('paused-q', true, now())",
    );
    const r = await record.using({ queue: "paused-q" }).enqueue("paused");
    // A probe in a served, unpaused queue, behind the paused run in claim order: the claim that
    // takes it would have taken the paused run first.
    const probe = await record.using({ queue: "paused-probe", priority: -100 }).enqueue("paused-probe");
    await startWorker({ queues: ["paused-q", "paused-probe"] });
    await probe.wait({ timeout: 10_000 });
    expect((await r.refresh()).status).toBe("READY");
    await ctx.db.pool.query("UPDATE reproq.queue_controls SET paused = false WHERE queue_name = 'paused-q'");
    await r.wait({ timeout: 10_000 });
    expect(r.status).toBe("SUCCESSFUL");
  });

  it("serves queues by glob", async () => {
    // "other" comes first in claim order: the claim that takes "bulk-a" would have taken it too.
    const other = await record.using({ queue: "other", priority: 10 }).enqueue("glob-other");
    const a = await record.using({ queue: "bulk-a" }).enqueue("glob-a");
    await startWorker({ queues: ["bulk-*"] });
    await a.wait({ timeout: 10_000 });
    expect((await other.refresh()).status).toBe("READY");
  });
});

describe("retries", () => {
  it("retries with exponential backoff and records every error", async () => {
    const starts: number[] = [];
    const flaky = task("w.flaky", { maxAttempts: 3 }, async () => {
      starts.push(Date.now());
      if (starts.length < 3) throw new TypeError(`boom ${starts.length}`);
      return "finally";
    });
    const events: string[] = [];
    const worker = await startWorker({ retryBase: "100ms" });
    const dueAt: number[] = [];
    worker.on("retrying", (e) => {
      events.push(`retrying:${e.attempt}:${e.delayMs}`);
      dueAt.push(Date.parse(e.error.at) + e.delayMs);
    });
    worker.on("succeeded", (e) => events.push(`succeeded:${e.attempt}`));
    const r = await flaky.enqueue();
    await r.wait({ timeout: 15_000 });
    expect(r.status).toBe("SUCCESSFUL");
    expect(r.attempts).toBe(3);
    expect(r.errors.map((e) => [e.kind, e.class, e.message, e.attempt])).toEqual([
      ["exception", "TypeError", "boom 1", 1],
      ["exception", "TypeError", "boom 2", 2],
    ]);
    expect(r.errors[0]?.worker).toBe(worker.id);
    expect(events).toEqual(["retrying:1:200", "retrying:2:400", "succeeded:3"]);
    // Each retry starts no earlier than the failure it follows plus the backoff the worker announced.
    expect(starts[1]).toBeGreaterThanOrEqual(dueAt[0]!);
    expect(starts[2]).toBeGreaterThanOrEqual(dueAt[1]!);
  });

  it("runs a short retry when it is due, not at the next poll", async () => {
    let calls = 0;
    const twice = task("w.twice", { maxAttempts: 2, retry: { base: "20ms" } }, async () => {
      calls++;
      if (calls === 1) throw new Error("first attempt fails");
      return "second";
    });
    // No NOTIFY announces a retry and the poll is a minute away: the worker's own timer must claim it.
    await startWorker({ pollInterval: 60_000 });
    const r = await twice.enqueue();
    await r.wait({ timeout: 20_000 });
    expect([r.status, r.attempts, calls]).toEqual(["SUCCESSFUL", 2, 2]);
  });

  it("fails for good when attempts run out, and at once on NonRetryableError", async () => {
    const always = task("w.always", { maxAttempts: 2, retry: { base: "10ms" } }, async () => {
      throw new Error("always broken");
    });
    const fatal = task("w.fatal", { maxAttempts: 5 }, async () => {
      throw new NonRetryableError("bad input, do not retry");
    });
    const failed: string[] = [];
    const worker = await startWorker();
    worker.on("failed", (e) => failed.push(e.taskName));
    const a = await always.enqueue();
    const f = await fatal.enqueue();
    await Promise.all([a.wait({ timeout: 10_000 }), f.wait({ timeout: 10_000 })]);
    expect([a.status, a.attempts, a.errors.length]).toEqual(["FAILED", 2, 2]);
    expect(a.lastError).toBe("always broken");
    expect(() => a.returnValue).toThrow(/FAILED/);
    expect([f.status, f.attempts, f.errors[0]?.kind]).toEqual(["FAILED", 1, "non_retryable"]);
    expect(failed.sort()).toEqual(["w.always", "w.fatal"]);
  });

  it("snooze re-runs later without using an attempt", async () => {
    let calls = 0;
    const sleepy = task("w.sleepy", { maxAttempts: 1 }, async () => {
      calls++;
      if (calls < 3) snooze("50ms");
      return calls;
    });
    await startWorker();
    const r = await sleepy.enqueue();
    await r.wait({ timeout: 10_000 });
    expect([r.status, r.returnValue, r.attempts, r.errors]).toEqual(["SUCCESSFUL", 3, 1, []]);
  });
});

describe("timeouts and cancellation (in-process)", () => {
  it("fails an attempt on timeout even when the handler ignores its signal", async () => {
    let sawAbort = false;
    const stuck = task("w.stuck", { timeout: "300ms", maxAttempts: 1 }, async (...args: []) => {
      void args;
      return new Promise(() => {});
    });
    const aware = task("w.aware", { timeout: "300ms", maxAttempts: 1, takesContext: true }, async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      sawAbort = ctx.signal.aborted;
      return "too late";
    });
    await startWorker();
    const s = await stuck.enqueue();
    const a = await aware.enqueue();
    await Promise.all([s.wait({ timeout: 10_000 }), a.wait({ timeout: 10_000 })]);
    expect([s.status, s.errors[0]?.kind]).toEqual(["FAILED", "timeout"]);
    expect([a.status, a.errors[0]?.kind]).toEqual(["FAILED", "timeout"]);
    expect(sawAbort).toBe(true);
  });

  it("times out each attempt at its own deadline while other runs come and go", async () => {
    const hang = (name: string, timeout: string) =>
      task(name, { timeout, maxAttempts: 1 }, async (...args: []) => {
        void args;
        return new Promise(() => {});
      });
    const short = hang("w.hang1s", "1s");
    const long = hang("w.hang3s", "3s");
    await startWorker({ concurrency: 4 });
    const l = await long.enqueue();
    const s = await short.enqueue();
    // Quick runs start and finish around the hung ones without disturbing their timeouts.
    const quick = await Promise.all(Array.from({ length: 20 }, (_, i) => record.enqueue(`quick-${i}`)));
    await Promise.all([...quick, s, l].map((r) => r.wait({ timeout: 20_000 })));
    expect(quick.every((r) => r.status === "SUCCESSFUL")).toBe(true);
    expect([s.status, s.errors[0]?.kind, l.status, l.errors[0]?.kind]).toEqual([
      "FAILED",
      "timeout",
      "FAILED",
      "timeout",
    ]);
    const ranFor = (r: typeof s) => r.finishedAt!.getTime() - r.startedAt!.getTime();
    // Never before its own timeout (lower bounds only: a loaded machine may be late).
    expect(ranFor(s)).toBeGreaterThanOrEqual(950);
    expect(ranFor(l)).toBeGreaterThanOrEqual(2950);
    expect(s.finishedAt!.getTime()).toBeLessThan(l.finishedAt!.getTime());
  });

  it("cancels a READY run at once and a RUNNING run through its signal", async () => {
    const ready = await record.using({ queue: "nobody" }).enqueue("never");
    expect((await cancel(ready.id)).outcome).toBe("cancelled");
    expect((await ready.refresh()).status).toBe("CANCELLED");
    expect((await cancel(ready.id)).outcome).toBe("finished");

    let sawAbort = false;
    const long = task("w.long", { takesContext: true, timeout: "60s" }, async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      sawAbort = true;
    });
    const cancelled: string[] = [];
    // No heartbeat (which also delivers cancel requests) falls within the test's timeout.
    const worker = await startWorker({ heartbeatInterval: "60s", leaseDuration: "120s" });
    worker.on("cancelled", (e) => cancelled.push(e.id));
    const r = await long.enqueue();
    await eventually(async () => (await r.refresh()).status === "RUNNING");
    expect((await cancel(r.id)).outcome).toBe("requested");
    // The heartbeat is 60 s away: only the NOTIFY can deliver the cancel.
    await r.wait({ timeout: 20_000 });
    expect(r.status).toBe("CANCELLED");
    expect(r.errors.at(-1)?.kind).toBe("cancelled");
    expect(sawAbort).toBe(true);
    expect(cancelled).toEqual([r.id]);
  });
});

describe("unknown and disallowed tasks", () => {
  it("fails an unregistered task at once without retrying, and keeps working", async () => {
    await ctx.db.pool.query(
      `INSERT INTO reproq.task_runs (spec_json, spec_hash, task_path, max_attempts, queue_name)
       VALUES ('{"v":1,"task_path":"nope.unknown","args":[]}', repeat('b', 64), 'nope.unknown', 5, 'unknown-q')`,
    );
    const after = await record.using({ queue: "unknown-q" }).enqueue("after-unknown");
    await startWorker({ queues: ["unknown-q"] });
    await after.wait({ timeout: 10_000 });
    const rows = await eventually(async () => {
      const result = await ctx.db.pool.query(
        "SELECT status, attempts, errors_json FROM reproq.task_runs WHERE task_path = 'nope.unknown' AND status = 'FAILED'",
      );
      return result.rowCount ? result.rows : null;
    });
    expect(rows[0].attempts).toBe(1);
    expect(rows[0].errors_json[0].kind).toBe("unknown_task");
  });

  it("refuses tasks outside allowedTaskModules", async () => {
    const blocked = task("blocked.job", async () => "ran");
    const allowed = task("allowed.job", async () => "ran");
    await startWorker({ allowedTaskModules: ["allowed."], queues: ["allow-q"] });
    const b = await blocked.using({ queue: "allow-q" }).enqueue();
    const a = await allowed.using({ queue: "allow-q" }).enqueue();
    await Promise.all([a.wait({ timeout: 10_000 }), b.wait({ timeout: 10_000 })]);
    expect(a.status).toBe("SUCCESSFUL");
    expect([b.status, b.attempts, b.errors[0]?.kind]).toEqual(["FAILED", 1, "not_allowed"]);
  });
});

describe("context and metadata", () => {
  it("persists metadata on save and at the end, on success and on failure", async () => {
    let savedMidRun: unknown;
    const withCtx = task("w.ctx", { takesContext: true, maxAttempts: 1 }, async (ctx, fail: boolean) => {
      ctx.metadata.stage = "started";
      await ctx.saveMetadata();
      const { rows } = await ctx_db().query(
        "SELECT metadata_json FROM reproq.task_runs WHERE result_id = $1",
        [ctx.resultId],
      );
      savedMidRun = rows[0].metadata_json;
      ctx.metadata.stage = "done";
      ctx.metadata.attempt = ctx.attempt;
      if (fail) throw new Error("failed after metadata");
      return ctx.resultId;
    });
    await startWorker();
    const ok = await withCtx.enqueue(false);
    const bad = await withCtx.enqueue(true);
    await Promise.all([ok.wait({ timeout: 10_000 }), bad.wait({ timeout: 10_000 })]);
    expect(savedMidRun).toEqual({ stage: "started" });
    expect(ok.returnValue).toBe(ok.id);
    expect(ok.metadata).toEqual({ stage: "done", attempt: 1 });
    expect(bad.status).toBe("FAILED");
    expect(bad.metadata).toEqual({ stage: "done", attempt: 1 });
  });
});

function ctx_db() {
  return ctx.db.pool;
}

describe("lifecycle", () => {
  it("registers itself while running and removes its row on stop", async () => {
    const worker = await startWorker({ concurrency: 3, queues: ["a", "b"] });
    const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.workers WHERE worker_id = $1", [
      worker.id,
    ]);
    expect(rows[0]).toMatchObject({ concurrency: 3, queues: ["a", "b"] });
    await worker.stop();
    const after = await ctx.db.pool.query("SELECT 1 FROM reproq.workers WHERE worker_id = $1", [worker.id]);
    expect(after.rowCount).toBe(0);
  });

  it("drains running tasks on stop, and releases those past the grace period", async () => {
    const slow = task("w.slow", async (ms: number) => {
      await sleep(ms);
      return ms;
    });
    const w1 = await startWorker({ queues: ["drain"] });
    const r = await slow.using({ queue: "drain" }).enqueue(400);
    await eventually(async () => (await r.refresh()).status === "RUNNING");
    await w1.stop({ timeout: "10s" });
    expect((await r.refresh()).status).toBe("SUCCESSFUL");

    const w2 = await startWorker({ queues: ["release"] });
    const stubborn = await slow.using({ queue: "release" }).enqueue(30_000);
    await eventually(async () => (await stubborn.refresh()).status === "RUNNING");
    // Draining it would take 30 s, past the test's timeout: stop() returns after the grace period.
    await w2.stop({ timeout: "200ms" });
    await stubborn.refresh();
    expect([stubborn.status, stubborn.attempts, stubborn.errors]).toEqual(["READY", 0, []]);
    const lease = await ctx.db.pool.query(
      "SELECT leased_by, lease_token FROM reproq.task_runs WHERE result_id = $1",
      [stubborn.id],
    );
    expect(lease.rows[0]).toEqual({ leased_by: null, lease_token: null });
    await cancel(stubborn.id);
  });

  it("refuses to start against a schema of another version", async () => {
    await ctx.db.pool.query(
      "INSERT INTO reproq.schema_migrations (version, name, package_version) VALUES (999, 'x', '9')",
    );
    try {
      await expect(startWorker()).rejects.toBeInstanceOf(SchemaError);
    } finally {
      await ctx.db.pool.query("DELETE FROM reproq.schema_migrations WHERE version = 999");
    }
  });

  it("emits started and succeeded events", async () => {
    const seen: string[] = [];
    const worker = await startWorker({ queues: ["events"] });
    worker.on("started", (e) => seen.push(`started:${e.taskName}`));
    worker.on("succeeded", (e) => seen.push(`succeeded:${String(e.returnValue)}`));
    const r = await record.using({ queue: "events" }).enqueue("evt");
    await r.wait({ timeout: 10_000 });
    await eventually(async () => seen.length === 2);
    expect(seen).toEqual(["started:w.record", "succeeded:evt"]);
  });
});

describe("maintenance", () => {
  it("reaps expired leases: READY while attempts remain, FAILED after", async () => {
    const retryable = await record.using({ queue: "reap" }).enqueue("reap-1");
    const exhausted = await record.using({ queue: "reap", maxAttempts: 1 }).enqueue("reap-2");
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = 'RUNNING', attempts = 1, leased_by = 'ghost', lease_token = gen_random_uuid(),
              leased_until = now() - interval '1 second' WHERE result_id = ANY($1::bigint[])`,
      [[retryable.id, exhausted.id]],
    );
    const client = await ctx.db.pool.connect();
    try {
      const result = await runMaintenance(client, "reproq", { retainSuccessful: 0, retainFailed: 0 });
      expect(result.reaped).toBe(2);
    } finally {
      client.release();
    }
    await retryable.refresh();
    await exhausted.refresh();
    expect([retryable.status, retryable.errors[0]?.kind, retryable.errors[0]?.worker]).toEqual([
      "READY",
      "lease_expired",
      "ghost",
    ]);
    expect([exhausted.status, exhausted.lastError]).toEqual([
      "FAILED",
      "lease expired: worker ghost stopped renewing its lease",
    ]);
  });

  it("expires runs that did not start in time, and applies retention in batches", async () => {
    const late = await record.using({ queue: "nobody-serves-this", expiresIn: "1ms" }).enqueue("late");
    const oldOk = await record.using({ queue: "nobody-serves-this" }).enqueue("old-success");
    const recentFail = await record.using({ queue: "nobody-serves-this" }).enqueue("recent-failure");
    await ctx.db.pool.query(
      "UPDATE reproq.task_runs SET status = 'SUCCESSFUL', finished_at = now() - interval '8 days' WHERE result_id = $1",
      [oldOk.id],
    );
    await ctx.db.pool.query(
      "UPDATE reproq.task_runs SET status = 'FAILED', finished_at = now() - interval '8 days' WHERE result_id = $1",
      [recentFail.id],
    );
    await pastExpiry(ctx.db.pool, late.id);
    const client = await ctx.db.pool.connect();
    try {
      const result = await runMaintenance(client, "reproq", {
        retainSuccessful: 7 * 86_400_000,
        retainFailed: 30 * 86_400_000,
      });
      expect(result.expired).toBeGreaterThanOrEqual(1);
      expect(result.deleted).toBeGreaterThanOrEqual(1);
    } finally {
      client.release();
    }
    expect((await late.refresh()).status).toBe("EXPIRED");
    await expect(getResult(oldOk.id)).rejects.toThrow(/does not exist/);
    expect((await recentFail.refresh()).status).toBe("FAILED");
  });

  it("never starts a run past its expiry; the worker's maintenance marks it EXPIRED", async () => {
    const expired = await record.using({ queue: "expiry-q", expiresIn: "1ms" }).enqueue("expired");
    await pastExpiry(ctx.db.pool, expired.id);
    await startWorker({ queues: ["expiry-q"] });
    await expired.wait({ timeout: 10_000 });
    expect([expired.status, expired.attempts, expired.startedAt]).toEqual(["EXPIRED", 0, null]);
  });
});

describe("expiry at claim time", () => {
  it("ends an expired run EXPIRED when a worker serving its queue would have claimed it, not at the next maintenance pass", async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const blocker = task("w.blocker", async () => {
      await released;
      return "done";
    });
    // Maintenance only at start-up: the pass at start is over before the run below exists.
    const worker = await startWorker({ queues: ["claim-expiry"], concurrency: 1, maintenanceInterval: "1h" });
    await eventually(() => worker.status().lastMaintenanceAt);
    const busy = await blocker.using({ queue: "claim-expiry" }).enqueue();
    await eventually(async () => (await busy.refresh()).status === "RUNNING");
    const late = await record.using({ queue: "claim-expiry", expiresIn: "1ms" }).enqueue("late");
    const after = await record.using({ queue: "claim-expiry", priority: -1 }).enqueue("after");
    await pastExpiry(ctx.db.pool, late.id);
    release();
    await after.wait({ timeout: 10_000 });
    await late.wait({ timeout: 10_000 });
    expect([late.status, late.attempts, late.startedAt, late.errors[0]?.kind]).toEqual([
      "EXPIRED",
      0,
      null,
      "expired",
    ]);
    // The worker counts it when its expiry statement answers, which may come after the waiter's
    // notification.
    await eventually(() => worker.status().counts.byQueue["claim-expiry"]?.expired === 1);
  });
});

describe("run logs", () => {
  it("saves what each run writes to stdout/stderr to its own file, even with concurrent runs", async () => {
    const { mkdtemp, readFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const dir = await mkdtemp(path.join(tmpdir(), "reproq-logs-"));
    const chatty = task("w.chatty", async (name: string) => {
      for (let i = 0; i < 3; i++) {
        process.stdout.write(`${name} line ${i}\n`);
        await sleep(5);
      }
      process.stderr.write(`${name} warning\n`);
      return name;
    });
    const quiet = task("w.quiet", async () => 1);
    await startWorker({ logsDir: dir, queues: ["logs"], concurrency: 4 });
    const runs = await Promise.all(["a", "b", "c"].map((n) => chatty.using({ queue: "logs" }).enqueue(n)));
    const silent = await quiet.using({ queue: "logs" }).enqueue();
    await Promise.all([...runs, silent].map((r) => r.wait({ timeout: 10_000 })));
    for (const [i, r] of runs.entries()) {
      const name = ["a", "b", "c"][i];
      expect(r.logsUri).toBe(path.join(dir, `task-${r.id}-attempt-1.log`));
      const text = await readFile(r.logsUri!, "utf8");
      expect(text).toBe(`${name} line 0\n${name} line 1\n${name} line 2\n[stderr] ${name} warning\n`);
    }
    expect(silent.logsUri).toBeNull();
  });
});
