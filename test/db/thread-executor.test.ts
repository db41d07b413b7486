/**
 * `isolation: "thread"` end to end against a real PostgreSQL: runs execute in worker threads
 * that timeouts and cancels terminate, even when the handler never yields.
 *
 * Like process-executor.test.ts, everything comes from the build (dist/): the threads import the
 * task fixture, which imports the built package, and the worker here must share its registry.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancel, close, configure, runWorker, type TaskResult, type Worker } from "../../dist/index.js";
import { ThreadExecutor } from "../../dist/worker/thread-executor.js";
import {
  add,
  annotate,
  badReturn,
  block,
  crashesLater,
  exits,
  naps,
  refuses,
  spin,
  throwsObject,
  where,
} from "../fixtures/process-tasks.mjs";
import { useTestDatabase } from "../support/db.js";
import { eventually } from "../support/wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TASKS = "test/fixtures/process-tasks.mjs";

const ctx = useTestDatabase();
let logsDir: string;
const workers: Worker[] = [];
/** The executor of the worker serving "thread-kill", to see its threads go. */
let killer: ThreadExecutor;

beforeAll(async () => {
  configure({ databaseUrl: ctx.db.url });
  logsDir = await mkdtemp(path.join(tmpdir(), "reproq-thread-logs-"));
  const common = { isolation: "thread", tasks: [TASKS], pollInterval: 200 };
  killer = new ThreadExecutor({ taskModules: [TASKS], cwd: ROOT, maxRunsPerChild: 1000, maxMemoryMb: 256 });
  workers.push(
    await runWorker({
      cwd: ROOT,
      logger: false,
      config: { ...common, queues: ["proc"], concurrency: 2, logsDir },
    }),
    await runWorker({
      cwd: ROOT,
      logger: false,
      config: { ...common, queues: ["proc-recycle"], concurrency: 1, maxRunsPerChild: 2 },
    }),
    await runWorker({
      cwd: ROOT,
      logger: false,
      executor: killer,
      config: { ...common, queues: ["thread-kill"], concurrency: 1 },
    }),
  );
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeout: 0 })));
  await close();
  if (logsDir) await rm(logsDir, { recursive: true, force: true });
});

async function finished<R>(run: TaskResult<R>, timeout = 20_000): Promise<TaskResult<R>> {
  return run.wait({ timeout });
}

describe("thread isolation", () => {
  it("runs the handler in a worker thread of this process and returns its decoded value", async () => {
    const run = await finished(await add.enqueue(2, 3));
    expect(run.status).toBe("SUCCESSFUL");
    expect(run.returnValue).toEqual({ sum: 5, at: new Date(0), big: 2n ** 70n, pid: process.pid });
  });

  it("keeps metadata, log lines and output written in the thread", async () => {
    const run = await finished(await annotate.enqueue("one"));
    expect(run.status).toBe("SUCCESSFUL");
    expect(run.metadata).toMatchObject({ step: "one" });
    expect(run.logsUri).toBeTruthy();
    expect(await readFile(run.logsUri as string, "utf8")).toContain("printed by the child for one");
  });

  it("terminates a handler that busy-loops past its timeout", async () => {
    // The loop never yields: only terminating its thread can end the run, and end the loop.
    const run = await finished(await spin.using({ queue: "thread-kill" }).enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(1);
    expect(run.errors.at(-1)).toMatchObject({ kind: "timeout" });
    await eventually(() => killer.size === 0, 5000);
  });

  it("cancel terminates the thread running the task", async () => {
    const run = await block.using({ queue: "thread-kill" }).enqueue();
    // The handler saves its metadata before blocking its event loop: then it is running.
    await eventually(async () => {
      const { rows } = await ctx.db.pool.query(
        "SELECT metadata_json FROM reproq.task_runs WHERE result_id = $1",
        [run.id],
      );
      return rows[0]?.metadata_json?.pid;
    });
    expect(killer.size).toBe(1);
    expect((await cancel(run.id)).outcome).toBe("requested");
    await finished(run);
    expect(run.status).toBe("CANCELLED");
    await eventually(() => killer.size === 0, 5000);
  });

  it("retries a run whose thread exits mid-run, then fails it with the exit code", async () => {
    const run = await finished(await exits.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(2);
    for (const error of run.errors)
      expect(error.message).toMatch(/task thread exited with code 3 during the run/);
  });

  it("fails at once on a NonRetryableError, keeping its class; records a thrown object as it prints", async () => {
    const refused = await finished(await refuses.enqueue());
    expect([refused.status, refused.attempts]).toEqual(["FAILED", 1]);
    expect(refused.errors.at(-1)).toMatchObject({
      kind: "non_retryable",
      class: "Declined",
      message: "card declined",
    });
    const thrown = await finished(await throwsObject.enqueue());
    expect(thrown.errors.at(-1)).toMatchObject({ class: "Object", message: "{ code: 42, reason: 'quota' }" });
  });

  it("fails at once when the return value cannot be stored", async () => {
    const run = await finished(await badReturn.enqueue());
    expect([run.status, run.attempts]).toEqual(["FAILED", 1]);
    expect(run.errors.at(-1)?.message).toMatch(/returnValue.*cannot be encoded/);
  });

  it("fails the run on an error thrown outside the handler, and replaces the thread", async () => {
    const run = await finished(await crashesLater.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.errors.at(-1)).toMatchObject({ class: "TypeError", message: "thrown outside the handler" });
    expect((await finished(await add.enqueue(1, 1))).status).toBe("SUCCESSFUL");
  });

  it("honours snooze() from a thread", async () => {
    const run = await finished(await naps.enqueue());
    expect([run.status, run.returnValue]).toEqual(["SUCCESSFUL", "woke"]);
  });

  it("replaces a thread after maxRunsPerChild runs", async () => {
    const threads: number[] = [];
    for (let i = 0; i < 4; i++) {
      const run = await finished(await where.enqueue());
      threads.push(run.returnValue.threadId);
    }
    const [first, second, third, fourth] = threads;
    // Worker threads of this process (thread 0 is the main thread).
    for (const thread of threads) expect(thread).toBeGreaterThan(0);
    expect(second).toBe(first);
    expect(fourth).toBe(third);
    expect(third).not.toBe(first);
  });
});
