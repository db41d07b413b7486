/**
 * What `reproq worker` says: one line per run start, success, retry and failure at the default
 * level, as JSON or pretty lines on stderr, and never mixed into a run's own output.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { close, configure } from "../../dist/index.js";
import { broken, chatty, flaky } from "../fixtures/log-tasks.mjs";
import { BIN, cleanEnv } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";
import { eventually } from "../support/wait.js";

const ctx = useTestDatabase();
let logsDir: string;

beforeAll(async () => {
  configure({ databaseUrl: ctx.db.url });
  logsDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-log-"));
});

afterAll(async () => {
  await close();
  await rm(logsDir, { recursive: true, force: true });
});

function startWorker(args: string[]): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "worker",
      "--tasks",
      "test/fixtures/log-tasks.mjs",
      "--queues",
      "logq",
      "--poll-interval",
      "200ms",
      ...args,
    ],
    { env: cleanEnv({ DATABASE_URL: ctx.db.url }), stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr?.on("data", (chunk) => {
    err += chunk.toString();
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function runAll() {
  const ok = await chatty.enqueue("hello");
  const retried = await flaky.enqueue();
  const failed = await broken.enqueue();
  for (const run of [ok, retried, failed]) await run.wait({ timeout: 15_000 }).catch(() => {});
  return { ok, retried, failed };
}

describe("reproq worker log lines", () => {
  it("logs each run's start and outcome as JSON, and keeps them out of the run's log", async () => {
    const worker = startWorker(["--log-format", "json", "--logs-dir", logsDir]);
    try {
      const { ok, retried, failed } = await runAll();
      const records = () =>
        worker
          .stderr()
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      await eventually(() => records().some((r) => r.msg === "run failed"));
      const about = (id: string) => records().filter((r) => r.id === id);
      expect(about(ok.id).map((r) => r.msg)).toEqual(["run started", "run succeeded"]);
      const success = about(ok.id)[1]!;
      expect(success).toMatchObject({
        task: "log.chatty",
        queue: "logq",
        attempt: "1/3",
        role: "worker",
        level: 30,
      });
      expect(typeof success.durationMs).toBe("number");
      expect(about(retried.id).map((r) => r.msg)).toEqual([
        "run started",
        "run failed; retrying",
        "run started",
        "run succeeded",
      ]);
      expect(about(retried.id)[1]).toMatchObject({ attempt: "1/2", error: "first attempt fails", level: 40 });
      expect(about(failed.id).map((r) => r.msg)).toEqual(["run started", "run failed"]);
      expect(about(failed.id)[1]).toMatchObject({ error: "broken for good", kind: "exception", level: 50 });
      // The task's own output is in its run's log; the worker's lines are not.
      const log = await readFile((await ok.refresh()).logsUri as string, "utf8");
      expect(log).toContain("task says hello");
      expect(log).not.toContain("run started");
    } finally {
      worker.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
    }
  });

  it("writes pretty lines when asked, and only warnings and errors at --log-level warn", async () => {
    const worker = startWorker(["--log-format", "pretty", "--log-level", "warn"]);
    try {
      const { retried, failed } = await runAll();
      await eventually(() => worker.stderr().includes("run failed  "));
      const text = worker.stderr();
      expect(text).not.toContain("run started");
      expect(text).not.toContain("run succeeded");
      expect(text).toMatch(
        new RegExp(
          `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} WARN  worker run failed; retrying  id=${retried.id} task=log.flaky `,
          "m",
        ),
      );
      expect(text).toMatch(
        new RegExp(
          `^\\S+ ERROR worker run failed  id=${failed.id} task=log.broken .*error="broken for good"`,
          "m",
        ),
      );
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });

  it("refuses an unknown --log-format with a clear message", async () => {
    const worker = startWorker(["--log-format", "xml"]);
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toMatch(/log-?[Ff]ormat.*"pretty" or "json"/);
  });
});
