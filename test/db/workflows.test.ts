/**
 * Workflows against real workers: chain (order, pipe, failure), group, chord (exactly-once
 * callback, also with members finishing at once on several worker processes), cancel,
 * transactional enqueue and validation.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cancel,
  cancelWorkflow,
  chain,
  chord,
  getWorkflow,
  group,
  InvalidInputError,
  NonRetryableError,
  PayloadError,
  task,
} from "../../src/index.js";
import { expireRuns } from "../../src/sql/maintenance.js";
import { useReproq } from "../support/reproq.js";
import { eventually, pastExpiry, sleep } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const order: string[] = [];
interface Page {
  url: string;
  size: number;
}
const fetchPage = task("wf.fetch", async (url: string): Promise<Page> => {
  order.push(`fetch ${url}`);
  return { url, size: url.length };
});
const parsePage = task("wf.parse", async (prefix: string, page: Page) => {
  order.push(`parse ${page.url}`);
  return `${prefix}:${page.url}:${page.size}`;
});
const shout = task("wf.shout", async (text: string) => {
  order.push(`shout ${text}`);
  return text.toUpperCase();
});
const notify = task("wf.notify", async () => {
  order.push("notify");
  return "notified";
});
const resize = task("wf.resize", async (name: string) => {
  await sleep(Math.random() * 20);
  return `small-${name}`;
});
const boom = task("wf.boom", async (message: string) => {
  order.push(`boom ${message}`);
  throw new NonRetryableError(message);
});
let callbackRuns = 0;
const collect = task("wf.collect", async (label: string) => {
  callbackRuns++;
  order.push(`collect ${label}`);
  return label;
});
const waitForCancel = task("wf.wait-cancel", { takesContext: true, timeout: "60s" }, async (ctx) => {
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
});

async function count(table: string): Promise<number> {
  const { rows } = await ctx.db.pool.query(`SELECT count(*)::int AS n FROM reproq.${table}`);
  return rows[0].n;
}

async function workflowRow(id: string) {
  const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.workflow_runs WHERE workflow_id = $1", [id]);
  return rows[0];
}

async function waitingIn(id: string): Promise<number> {
  const { rows } = await ctx.db.pool.query(
    "SELECT count(*)::int AS n FROM reproq.task_runs WHERE workflow_id = $1 AND status = 'WAITING'",
    [id],
  );
  return rows[0].n;
}

async function finished(id: string) {
  return eventually(async () => {
    const wf = await getWorkflow(id);
    return ["SUCCESSFUL", "FAILED", "CANCELLED"].includes(wf.status) ? wf : null;
  }, 15_000);
}

// Compile-time checks only: never called.
function typeChecks(): void {
  chain([fetchPage, ["u"]], [parsePage, ["p"], { pipe: true }], notify);
  chain([fetchPage, ["u"]], [shout, ["x"]], [shout, [], { pipe: true }]);
  // @ts-expect-error the piped value (a Page) does not fit shout's string parameter
  chain([fetchPage, ["u"]], [shout, [], { pipe: true }]);
  // @ts-expect-error a piped step's args omit the last parameter
  chain([fetchPage, ["u"]], [parsePage, ["p", { url: "u", size: 1 }], { pipe: true }]);
  // @ts-expect-error wrong argument type, as with .enqueue()
  group([resize, [1]]);
  // @ts-expect-error a bare task must take no arguments
  group(resize);
  // @ts-expect-error pipe is only for chain steps
  group([shout, [], { pipe: true }]);
  // @ts-expect-error the callback is type-checked too
  chord([[resize, ["a"]]], [collect, [2]]);
}
void typeChecks;

describe("chain", () => {
  it("runs steps in order and pipes return values", async () => {
    order.length = 0;
    await startWorker({ concurrency: 4 });
    const runs = await chain(
      [fetchPage, ["a.example"]],
      [parsePage, ["doc"], { pipe: true }],
      notify,
    ).enqueue();
    expect(runs.map((r) => r.status)).toEqual(["READY", "WAITING", "WAITING"]);
    expect(runs[1]!.parentId).toBe(runs[0]!.resultId);
    expect(runs[2]!.parentId).toBe(runs[1]!.resultId);
    const workflowId = runs[0]!.workflowId!;
    expect(runs.every((r) => r.workflowId === workflowId)).toBe(true);

    const wf = await finished(workflowId);
    expect(wf.status).toBe("SUCCESSFUL");
    expect(wf.kind).toBe("chain");
    expect([wf.expectedCount, wf.successCount, wf.failureCount]).toEqual([3, 3, 0]);
    expect(order).toEqual(["fetch a.example", "parse a.example", "notify"]);
    expect(wf.members.map((r) => r.resultId)).toEqual(runs.map((r) => r.resultId));
    expect(wf.members[1]!.args).toEqual(["doc", { url: "a.example", size: 9 }]);
    expect(wf.members[1]!.returnValue).toBe("doc:a.example:9");
    expect(wf.callback).toBeNull();
  });

  it("cancels the rest of the chain when a step fails for good", async () => {
    order.length = 0;
    await startWorker();
    const runs = await chain([shout, ["one"]], [boom, ["broken"]], [shout, ["three"]], notify).enqueue();
    const workflowId = runs[0]!.workflowId!;
    const wf = await finished(workflowId);
    expect(wf.status).toBe("FAILED");
    expect(wf.members.map((r) => r.status)).toEqual(["SUCCESSFUL", "FAILED", "CANCELLED", "CANCELLED"]);
    for (const step of wf.members.slice(2)) {
      expect(step.errors.at(-1)?.kind).toBe("workflow_cancelled");
      expect(step.lastError).toMatch(/^step 1 failed: .*broken/);
      expect(step.finishedAt).not.toBeNull();
    }
    expect([wf.successCount, wf.failureCount]).toEqual([1, 1]);
    expect(await waitingIn(workflowId)).toBe(0);
    // A probe behind the cancelled steps in claim order: the claim that takes it would have taken
    // any of them that was still claimable.
    await (await shout.using({ priority: -100 }).enqueue("probe")).wait({ timeout: 10_000 });
    expect(order).toEqual(["shout one", "boom broken", "shout probe"]);
  });
});

describe("chain: any path that ends a step advances it", () => {
  it("cancels the rest when a step is cancelled with cancel()", async () => {
    const runs = await chain(
      [shout, ["parked"], { queue: "nobody-serves-this" }],
      [shout, ["next"]],
      notify,
    ).enqueue();
    expect((await cancel(runs[0]!.id)).outcome).toBe("cancelled");
    const wf = await getWorkflow(runs[0]!.workflowId!);
    expect(wf.status).toBe("CANCELLED");
    expect(wf.members.map((r) => r.status)).toEqual(["CANCELLED", "CANCELLED", "CANCELLED"]);
    expect(wf.members[1]!.lastError).toBe("step 0 cancelled: cancelled");
    expect(await waitingIn(wf.id)).toBe(0);
  });

  it("cancels the rest when a waiting step expires", async () => {
    const runs = await chain(
      [shout, ["slow start"], { queue: "nobody-serves-this" }],
      [shout, ["expires"], { expiresIn: 1 }],
      notify,
    ).enqueue();
    await pastExpiry(ctx.db.pool, runs[1]!.id);
    expect((await expireRuns(ctx.db.pool, "reproq", 100)).map((run) => run.result_id)).toContain(
      runs[1]!.resultId,
    );
    const wf = await getWorkflow(runs[0]!.workflowId!);
    expect(wf.status).toBe("FAILED");
    expect(wf.members.map((r) => r.status)).toEqual(["READY", "EXPIRED", "CANCELLED"]);
    expect(wf.members[2]!.lastError).toMatch(/^step 1 expired/);
    // The workflow already failed; cancelling it still stops the step that could run.
    const outcome = await cancelWorkflow(wf.id);
    expect([outcome.status, outcome.cancelled]).toEqual(["FAILED", [runs[0]!.resultId]]);
    expect((await runs[0]!.refresh()).status).toBe("CANCELLED");
  });
});

describe("the example in docs/workflows.md", () => {
  it("runs", async () => {
    const fetchPage = task("pages.fetch", async (url: string) => {
      return { url, html: `<title>${url}</title>` }; // stands in for a real fetch(url)
    });
    const parsePage = task("pages.parse", async (mode: string, page: { url: string; html: string }) => {
      return { url: page.url, title: /<title>(.*?)<\/title>/i.exec(page.html)?.[1] ?? null, mode };
    });
    const notify = task("pages.notify", async () => "notified");
    const resize = task("images.resize", async (path: string) => `${path}.small`);
    const notifyDone = task("images.done", async () => "resized");
    await startWorker({ concurrency: 4 });

    const runs = await chain(
      [fetchPage, ["https://example.com"]],
      [parsePage, ["strict"], { pipe: true }],
      notify,
    ).enqueue();
    const parts = await group([resize, ["a.jpg"]], [resize, ["b.jpg"]]).enqueue();
    const { members, callback } = await chord(
      [
        [resize, ["a.jpg"]],
        [resize, ["b.jpg"]],
      ],
      notifyDone,
    ).enqueue();
    await runs[2]!.wait({ timeout: 10_000 });
    expect((await runs[1]!.refresh()).args).toEqual([
      "strict",
      { url: "https://example.com", html: "<title>https://example.com</title>" },
    ]);
    const wf = await getWorkflow(runs[0]!.workflowId!);
    expect([wf.kind, wf.status, wf.expectedCount, wf.successCount, wf.failureCount]).toEqual([
      "chain",
      "SUCCESSFUL",
      3,
      3,
      0,
    ]);
    expect((await callback.wait({ timeout: 10_000 })).returnValue).toBe("resized");
    expect(parts).toHaveLength(2);
    expect(members).toHaveLength(2);
    expect((await cancelWorkflow(wf.id)).status).toBe("SUCCESSFUL");
  });
});

describe("group", () => {
  it("runs members in parallel and returns results in order", async () => {
    await startWorker({ concurrency: 8 });
    const names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"];
    const parts = await group(...names.map((n) => [resize, [n]] as const)).enqueue();
    expect(parts.map((r) => r.args[0])).toEqual(names);
    expect(new Set(parts.map((r) => r.workflowId)).size).toBe(1);
    expect(parts.every((r) => r.status === "READY")).toBe(true);
    const wf = await finished(parts[0]!.workflowId!);
    expect(wf.status).toBe("SUCCESSFUL");
    expect(wf.members.map((r) => r.returnValue)).toEqual(names.map((n) => `small-${n}`));
    expect([wf.expectedCount, wf.successCount, wf.failureCount]).toEqual([5, 5, 0]);
  });

  it("fails once every member finished and one failed", async () => {
    await startWorker();
    const parts = await group([resize, ["x"]], [boom, ["bad member"]], [resize, ["y"]]).enqueue();
    const wf = await finished(parts[0]!.workflowId!);
    expect(wf.status).toBe("FAILED");
    expect(wf.members.map((r) => r.status)).toEqual(["SUCCESSFUL", "FAILED", "SUCCESSFUL"]);
    expect([wf.successCount, wf.failureCount]).toEqual([2, 1]);
  });
});

describe("chord", () => {
  it("runs the callback once after every member succeeded", async () => {
    callbackRuns = 0;
    await startWorker({ concurrency: 8 });
    const { workflowId, members, callback } = await chord(
      [
        [resize, ["a.jpg"]],
        [resize, ["b.jpg"]],
        [resize, ["c.jpg"]],
      ],
      [collect, ["all resized"]],
    ).enqueue();
    expect(members).toHaveLength(3);
    expect(callback.status).toBe("WAITING");
    expect(callback.workflowId).toBe(workflowId);
    await callback.wait({ timeout: 15_000 });
    expect(callback.status).toBe("SUCCESSFUL");
    expect(callback.returnValue).toBe("all resized");
    const wf = await finished(workflowId);
    expect(wf.status).toBe("SUCCESSFUL");
    expect(wf.callback?.resultId).toBe(callback.resultId);
    expect(wf.members.map((r) => r.status)).toEqual(["SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"]);
    expect(callback.startedAt!.getTime()).toBeGreaterThanOrEqual(
      Math.max(...wf.members.map((r) => r.finishedAt!.getTime())),
    );
    // A probe behind the callback in claim order: a second copy of the callback, had one become
    // claimable, would have been claimed (and counted as it started) before it.
    await (await shout.using({ priority: -100 }).enqueue("after the chord")).wait({ timeout: 10_000 });
    expect(callbackRuns).toBe(1);
  });

  it("fails the workflow and cancels the callback when a member fails for good", async () => {
    callbackRuns = 0;
    await startWorker();
    const { workflowId, callback } = await chord(
      [
        [resize, ["a"]],
        [boom, ["member broke"]],
      ],
      [collect, ["never"]],
    ).enqueue();
    await callback.wait({ timeout: 15_000 });
    expect(callback.status).toBe("CANCELLED");
    expect(callback.errors.at(-1)?.kind).toBe("workflow_cancelled");
    expect(callback.lastError).toMatch(/^step 1 failed: .*member broke/);
    const wf = await finished(workflowId);
    expect(wf.status).toBe("FAILED");
    expect(wf.failureCount).toBe(1);
    expect(callbackRuns).toBe(0);
  });

  it("runs the callback of an empty chord at once", async () => {
    await startWorker();
    const { workflowId, members, callback } = await chord([], [collect, ["empty"]]).enqueue();
    expect(members).toEqual([]);
    expect(callback.status).toBe("READY");
    expect((await workflowRow(workflowId)).status).toBe("WAITING_CALLBACK");
    await callback.wait({ timeout: 15_000 });
    expect(callback.returnValue).toBe("empty");
    expect((await finished(workflowId)).status).toBe("SUCCESSFUL");
  });
});

describe("cancelWorkflow", () => {
  it("cancels pending runs, asks running ones to stop, and ends CANCELLED", async () => {
    callbackRuns = 0;
    await startWorker({ heartbeatInterval: "20s", leaseDuration: "60s" });
    const { workflowId, members, callback } = await chord(
      [
        [waitForCancel, []],
        [resize, ["queued"], { queue: "nobody-serves-this" }],
      ],
      [collect, ["never"]],
    ).enqueue();
    const [running, pending] = members as [(typeof members)[0], (typeof members)[0]];
    await eventually(async () => (await running.refresh()).status === "RUNNING");

    const outcome = await cancelWorkflow(workflowId);
    expect(outcome.status).toBe("CANCELLED");
    expect(outcome.previousStatus).toBe("RUNNING");
    expect(outcome.requested).toEqual([running.resultId]);
    expect(outcome.cancelled.sort()).toEqual([pending.resultId, callback.resultId].sort());

    await running.wait({ timeout: 10_000 });
    expect(running.status).toBe("CANCELLED");
    expect(running.errors.at(-1)?.kind).toBe("cancelled");
    const wf = await getWorkflow(workflowId);
    expect(wf.status).toBe("CANCELLED");
    expect(wf.members.map((r) => r.status)).toEqual(["CANCELLED", "CANCELLED"]);
    expect(wf.callback?.status).toBe("CANCELLED");
    expect(wf.members[1]!.errors.at(-1)?.kind).toBe("workflow_cancelled");
    expect(callbackRuns).toBe(0);
    // Cancelling again changes nothing.
    const again = await cancelWorkflow(workflowId);
    expect([again.status, again.cancelled, again.requested]).toEqual(["CANCELLED", [], []]);
  });

  it("rejects ids that are not workflows", async () => {
    await expect(cancelWorkflow("not-a-uuid")).rejects.toBeInstanceOf(InvalidInputError);
    await expect(getWorkflow("00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("enqueue", () => {
  it("writes a whole workflow inside the caller's transaction, or nothing", async () => {
    const before = [await count("task_runs"), await count("workflow_runs")];
    const client = await ctx.db.pool.connect();
    try {
      await client.query("BEGIN");
      const runs = await chain([shout, ["tx"]], [shout, ["tx2"]]).enqueue({ client });
      const { members } = await chord([[resize, ["tx"]]], notify).enqueue({ client });
      expect(runs).toHaveLength(2);
      expect(members).toHaveLength(1);
      await client.query("ROLLBACK");
      expect([await count("task_runs"), await count("workflow_runs")]).toEqual(before);

      await client.query("BEGIN");
      const committed = await group([resize, ["c1"]], [resize, ["c2"]]).enqueue({ client });
      await client.query("COMMIT");
      expect([await count("task_runs"), await count("workflow_runs")]).toEqual([
        before[0]! + 2,
        before[1]! + 1,
      ]);
      expect((await getWorkflow(committed[0]!.workflowId!)).members).toHaveLength(2);
    } finally {
      client.release();
    }
  });

  it("writes a workflow whole or not at all on a client of the caller's, in a transaction or not", async () => {
    // A workflow takes several statements; make the last one (the workflow row) fail on demand.
    await ctx.db.pool.query(`
      CREATE FUNCTION reproq.test_fail_workflow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('reproq_test.fail_workflow', true) = 'on' THEN RAISE EXCEPTION 'injected failure'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_fail_workflow BEFORE INSERT ON reproq.workflow_runs
        FOR EACH ROW EXECUTE FUNCTION reproq.test_fail_workflow();`);
    const client = await ctx.db.pool.connect();
    try {
      const before = [await count("task_runs"), await count("workflow_runs")];
      await client.query("SET reproq_test.fail_workflow = 'on'");
      // No transaction open on the client: the runs inserted before the failure are undone too.
      await expect(group([resize, ["auto1"]], [resize, ["auto2"]]).enqueue({ client })).rejects.toThrow(
        /injected failure/,
      );
      expect([await count("task_runs"), await count("workflow_runs")]).toEqual(before);

      // Inside the caller's transaction: the failure undoes only the workflow, and the transaction
      // goes on to commit the caller's other writes and a later workflow.
      await client.query("BEGIN");
      await client.query("CREATE TEMP TABLE caller_rows (x int)");
      await client.query("INSERT INTO caller_rows VALUES (1)");
      await expect(chain([shout, ["in-tx"]], [shout, ["in-tx2"]]).enqueue({ client })).rejects.toThrow(
        /injected failure/,
      );
      await client.query("SET reproq_test.fail_workflow = 'off'");
      const later = await group([resize, ["tx-later"]]).enqueue({ client });
      await client.query("INSERT INTO caller_rows VALUES (2)");
      await client.query("COMMIT");
      expect((await client.query("SELECT count(*)::int AS n FROM caller_rows")).rows[0].n).toBe(2);
      expect([await count("task_runs"), await count("workflow_runs")]).toEqual([
        before[0]! + 1,
        before[1]! + 1,
      ]);
      expect((await getWorkflow(later[0]!.workflowId!)).members).toHaveLength(1);

      // Outside a transaction, a workflow that succeeds is committed at once.
      const auto = await group([resize, ["auto3"]]).enqueue({ client });
      expect((await getWorkflow(auto[0]!.workflowId!)).members).toHaveLength(1);
    } finally {
      client.release();
      await ctx.db.pool.query(
        "DROP TRIGGER test_fail_workflow ON reproq.workflow_runs; DROP FUNCTION reproq.test_fail_workflow()",
      );
    }
  });

  it("writes nothing when any step is invalid", async () => {
    const before = [await count("task_runs"), await count("workflow_runs")];
    const notATask = { name: "nope" } as unknown as typeof notify;
    await expect(chain([shout, ["ok"]], notATask).enqueue()).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      chain([shout, ["ok"]], [notATask as unknown as typeof shout, ["x"]]).enqueue(),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      group([resize, ["ok"]], [resize, "not-an-array" as unknown as [string]]).enqueue(),
    ).rejects.toBeInstanceOf(InvalidInputError);
    const unencodable = (() => 1) as unknown as string;
    await expect(
      chord(
        [
          [resize, ["ok"]],
          [resize, [unencodable]],
        ],
        notify,
      ).enqueue(),
    ).rejects.toBeInstanceOf(PayloadError);
    await expect(chain([shout, ["x"]], [shout, ["y"], { priority: 1000 }]).enqueue()).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(chain().enqueue()).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      chain([shout, [], { pipe: true }] as unknown as [typeof shout, [string]]).enqueue(),
    ).rejects.toThrow(/pipe/);
    expect([await count("task_runs"), await count("workflow_runs")]).toEqual(before);
  });

  it("keeps run_after, expiry and provenance on steps", async () => {
    const at = new Date(Date.now() + 3_600_000);
    const runs = await chain(
      [shout, ["later"], { runAfter: at, expiresIn: "2h" }],
      [shout, ["delayed"], { runAfter: "30m" }],
    ).enqueue();
    const standalone = await shout.enqueue("standalone");
    expect(runs[0]!.runAfter.toISOString()).toBe(at.toISOString());
    expect(runs[0]!.expiresAt!.getTime() - runs[0]!.enqueuedAt.getTime()).toBeCloseTo(7_200_000, -3);
    expect(runs[1]!.runAfter.getTime() - runs[1]!.enqueuedAt.getTime()).toBeCloseTo(1_800_000, -3);
    expect(runs[0]!.spec.run_after).toBe(at.toISOString());
    expect(runs[0]!.provenance).toEqual(standalone.provenance);
    expect(Object.keys(runs[0]!.provenance).length).toBeGreaterThan(0);
    await cancelWorkflow(runs[0]!.workflowId!);
  });

  it("hashes steps with their workflow and position, so they never dedup into other runs", async () => {
    const step = (await group([shout, ["same"]], [shout, ["same"]]).enqueue({}))!;
    const standalone = await shout.using({ queue: "nobody-serves-this" }).enqueue("same");
    const plain = await shout.using({ queue: "nobody-serves-this" }).enqueue("same-2");
    expect(step[0]!.specHash).not.toBe(step[1]!.specHash);
    expect(step[0]!.spec.workflow).toEqual({ id: step[0]!.workflowId, step: 0 });
    expect(step[1]!.spec.workflow).toEqual({ id: step[0]!.workflowId, step: 1 });
    expect(standalone.spec.workflow).toBeUndefined();
    expect(standalone.specHash).not.toBe(step[0]!.specHash);
    expect(plain.deduplicated).toBe(false);
    await cancelWorkflow(step[0]!.workflowId!);
  });
});

describe("a chord whose members complete concurrently on 3 workers (run it 50 times)", () => {
  const procs: Array<{ child: ChildProcess; exited: Promise<number | null> }> = [];

  beforeAll(async () => {
    await ctx.db.pool.query("CREATE TABLE public.chord_callbacks (chord_no int NOT NULL, pid int NOT NULL)");
  });

  afterAll(async () => {
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
  });

  it("runs every callback exactly once", { timeout: 60_000 }, async () => {
    const dist = await import("../../dist/index.js");
    const { member, done } = await import("../fixtures/workflow-tasks.mjs");
    dist.configure({ databaseUrl: ctx.db.url });
    try {
      for (let i = 0; i < 3; i++) {
        const child = spawn(
          process.execPath,
          [
            "dist/cli/main.js",
            "worker",
            "--tasks",
            "test/fixtures/workflow-tasks.mjs",
            "--queues",
            "chords",
            "--concurrency",
            "8",
            "--poll-interval",
            "200ms",
          ],
          { env: { ...process.env, DATABASE_URL: ctx.db.url }, stdio: ["ignore", "ignore", "ignore"] },
        );
        procs.push({ child, exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) });
      }
      await eventually(async () => (await count("workers")) >= 3, 15_000);

      const CHORDS = 50;
      const MEMBERS = 6;
      const chords = await Promise.all(
        Array.from({ length: CHORDS }, async (_, c) => {
          await sleep(c * 20);
          const at = Date.now() + 150;
          return dist
            .chord(
              Array.from({ length: MEMBERS }, (_, m) => [member, [c, m, at], { queue: "chords" }] as const),
              [done, [c], { queue: "chords" }],
            )
            .enqueue();
        }),
      );
      await Promise.all(chords.map((c) => c.callback.wait({ timeout: 45_000 })));

      const { rows } = await ctx.db.pool.query(
        "SELECT chord_no, count(*)::int AS n, count(DISTINCT pid)::int AS pids FROM public.chord_callbacks GROUP BY chord_no ORDER BY chord_no",
      );
      expect(rows).toHaveLength(CHORDS);
      expect(rows.every((r) => r.n === 1)).toBe(true);
      for (const c of chords) {
        expect(c.callback.status).toBe("SUCCESSFUL");
        expect(c.callback.attempts).toBe(1);
      }
      const statuses = await ctx.db.pool.query(
        `SELECT status, count(*)::int AS n, sum(success_count)::int AS ok FROM reproq.workflow_runs
          WHERE workflow_id = ANY($1::uuid[]) GROUP BY status`,
        [chords.map((c) => c.workflowId)],
      );
      expect(statuses.rows).toEqual([{ status: "SUCCESSFUL", n: CHORDS, ok: CHORDS * MEMBERS }]);
      // The members really did finish on different workers.
      const workers = await ctx.db.pool.query(
        `SELECT count(DISTINCT worker_ids[1])::int AS n FROM reproq.task_runs WHERE task_path = 'wfx.member'`,
      );
      expect(workers.rows[0].n).toBe(3);
    } finally {
      await dist.close();
    }
  });
});
