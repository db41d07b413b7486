/**
 * `isolation: "process"` end to end against a real PostgreSQL: runs execute in child processes
 * that timeouts and cancels kill for real.
 *
 * Everything here comes from the build (dist/), not src/: the children import the task fixture,
 * which imports the built package as a user's task module imports "reproq", and the worker in
 * this process must find the same tasks in its own registry. With src/ here and dist/ in the
 * fixture there would be two registries in this process and the worker would see no tasks.
 * So the test configures, enqueues and runs the worker with dist/ (npm test builds first).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancel, close, configure, runWorker, type TaskResult, type Worker } from "../../dist/index.js";
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
  whoami,
} from "../fixtures/process-tasks.mjs";
import { useTestDatabase } from "../support/db.js";
import { eventually } from "../support/wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TASKS = "test/fixtures/process-tasks.mjs";

const ctx = useTestDatabase();
let logsDir: string;
const workers: Worker[] = [];

beforeAll(async () => {
  configure({ databaseUrl: ctx.db.url });
  logsDir = await mkdtemp(path.join(tmpdir(), "reproq-process-logs-"));
  const common = { isolation: "process", tasks: [TASKS], pollInterval: 200 };
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
  );
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ timeout: 0 })));
  await close();
  if (logsDir) await rm(logsDir, { recursive: true, force: true });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function finished<R>(run: TaskResult<R>, timeout = 20_000): Promise<TaskResult<R>> {
  return run.wait({ timeout });
}

describe("process isolation", () => {
  it("runs the handler in a child and returns its decoded value", async () => {
    const run = await finished(await add.enqueue(2, 3));
    expect(run.status).toBe("SUCCESSFUL");
    const value = run.returnValue;
    expect(value).toEqual({ sum: 5, at: new Date(0), big: 2n ** 70n, pid: expect.any(Number) });
    expect(value.pid).not.toBe(process.pid);
  });

  it("keeps metadata, log lines and output written in the child", async () => {
    const run = await finished(await annotate.enqueue("one"));
    expect(run.status).toBe("SUCCESSFUL");
    expect(run.returnValue).toBe(1);
    expect(run.metadata).toMatchObject({ step: "one" });
    expect(run.logsUri).toBeTruthy();
    expect(await readFile(run.logsUri as string, "utf8")).toContain("printed by the child for one");
  });

  it("kills a handler that busy-loops past its timeout", async () => {
    // The loop never yields: only killing its child can end the run before the wait gives up.
    const run = await finished(await spin.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(1);
    expect(run.errors.at(-1)).toMatchObject({ kind: "timeout" });
    // Settling the run is not enough: the process running the loop must be gone.
    await eventually(() => !isAlive(run.metadata.pid as number), 5000);
  });

  it("cancel kills the child running the task", async () => {
    const run = await block.enqueue();
    // The handler saves its pid with ctx.saveMetadata() before blocking its event loop.
    const pid = await eventually(async () => {
      const { rows } = await ctx.db.pool.query(
        "SELECT metadata_json FROM reproq.task_runs WHERE result_id = $1",
        [run.id],
      );
      return rows[0]?.metadata_json?.pid as number | undefined;
    });
    expect(isAlive(pid)).toBe(true);
    expect((await cancel(run.id)).outcome).toBe("requested");
    await finished(run);
    expect(run.status).toBe("CANCELLED");
    await eventually(() => !isAlive(pid), 5000);
  });

  it("retries a run whose child exits mid-run, then fails it with the exit code", async () => {
    const run = await finished(await exits.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(2);
    expect(run.errors).toHaveLength(2);
    for (const error of run.errors) {
      expect(error.kind).toBe("exception");
      expect(error.message).toMatch(/child process exited with code 3 during the run/);
    }
  });

  it("fails at once on a NonRetryableError, keeping its class", async () => {
    const run = await finished(await refuses.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(1);
    expect(run.errors.at(-1)).toMatchObject({
      kind: "non_retryable",
      class: "Declined",
      message: "card declined",
    });
    expect(run.errors.at(-1)?.stack).toContain("process-tasks.mjs");
  });

  it("records a thrown non-Error as it prints, with its class, not as [object Object]", async () => {
    const run = await finished(await throwsObject.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.errors.at(-1)).toMatchObject({
      kind: "exception",
      class: "Object",
      message: "{ code: 42, reason: 'quota' }",
    });
    expect(run.lastError).toBe("{ code: 42, reason: 'quota' }");
  });

  it("fails at once when the return value cannot be stored", async () => {
    const run = await finished(await badReturn.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.attempts).toBe(1);
    expect(run.errors.at(-1)).toMatchObject({ class: "UnrunnableTask" });
    expect(run.errors.at(-1)?.message).toMatch(/returnValue.*cannot be encoded/);
  });

  it("fails the run on an error thrown outside the handler, and replaces the child", async () => {
    const run = await finished(await crashesLater.enqueue());
    expect(run.status).toBe("FAILED");
    expect(run.errors.at(-1)).toMatchObject({ class: "TypeError", message: "thrown outside the handler" });
    const after = await finished(await add.enqueue(1, 1));
    expect(after.status).toBe("SUCCESSFUL");
  });

  it("honours snooze() from a child", async () => {
    const run = await finished(await naps.enqueue());
    expect(run.status).toBe("SUCCESSFUL");
    expect(run.returnValue).toBe("woke");
    expect(run.metadata).toMatchObject({ snoozed: true });
  });

  it("replaces a child after maxRunsPerChild runs", async () => {
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const run = await finished(await whoami.enqueue());
      expect(run.status).toBe("SUCCESSFUL");
      pids.push(run.returnValue);
    }
    const [first, second, third, fourth] = pids;
    expect(second).toBe(first);
    expect(fourth).toBe(third);
    expect(third).not.toBe(first);
    await eventually(() => !isAlive(first as number), 5000);
  });
});
