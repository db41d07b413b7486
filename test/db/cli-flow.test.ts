import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, cleanEnv, lines, runCli } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";
import { eventually } from "../support/wait.js";

const ctx = useTestDatabase();
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "reproq-cli-flow-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const reproq = (args: string[]) => runCli(["--dsn", ctx.db.url, ...args], { cwd: dir });

describe("reproq limit", () => {
  it("sets, lists and deletes buckets (with the ls and rm aliases)", async () => {
    const set = await reproq(["limit", "set", "--key", "queue:default", "--rate", "5", "--burst", "10"]);
    expect(set).toMatchObject({ code: 0, stdout: "Set rate limit queue:default: 5 tokens/s, burst 10\n" });
    expect((await reproq(["limit", "set", "--key", "task:emails.send", "--rate", "0.5"])).code).toBe(0);
    const list = await reproq(["limit", "list"]);
    expect(lines(list.stdout)[0]).toMatch(/^KEY\s+RATE\/S\s+BURST\s+AVAILABLE$/);
    expect(list.stdout).toMatch(/queue:default\s+5\s+10\s+10\.00/);
    expect(list.stdout).toMatch(/task:emails\.send\s+0\.5\s+1\s+1\.00/);
    const json = JSON.parse((await reproq(["--json", "limit", "ls"])).stdout) as Array<{ key: string }>;
    expect(json.map((l) => l.key)).toEqual(["queue:default", "task:emails.send"]);
    expect((await reproq(["limit", "rm", "--key", "queue:default"])).stdout).toBe(
      "Deleted rate limit queue:default\n",
    );
    expect((await reproq(["limit", "delete", "--key", "queue:default"])).stdout).toMatch(/nothing deleted/);
    const { rows } = await ctx.db.pool.query("SELECT key FROM reproq.rate_limits ORDER BY key");
    expect(rows).toEqual([{ key: "task:emails.send" }]);
  });

  it("rejects bad keys and numbers with one line", async () => {
    const badKey = await reproq(["limit", "set", "--key", "queues:x", "--rate", "1"]);
    expect(badKey.code).toBe(2);
    expect(lines(badKey.stderr)).toEqual([
      expect.stringMatching(/^reproq: --key: rate-limit key "queues:x" is not valid/),
    ]);
    const badRate = await reproq(["limit", "set", "--key", "global", "--rate", "fast"]);
    expect(badRate.code).toBe(2);
    expect(badRate.stderr).toMatch(/--rate: "fast" is not valid/);
    expect((await reproq(["limit", "set", "--key", "global", "--rate", "1", "--burst", "0"])).code).toBe(2);
    expect((await reproq(["limit", "set", "--rate", "1"])).code).toBe(2);
  });
});

describe("reproq pause-queue / resume-queue", () => {
  it("pauses with a reason and resumes", async () => {
    const paused = await reproq(["pause-queue", "emails", "--reason", "provider outage"]);
    expect(paused).toMatchObject({ code: 0, stdout: "Paused queue emails (provider outage)\n" });
    let { rows } = await ctx.db.pool.query(
      "SELECT paused, reason FROM reproq.queue_controls WHERE queue_name = 'emails'",
    );
    expect(rows[0]).toEqual({ paused: true, reason: "provider outage" });
    const resumed = JSON.parse((await reproq(["--json", "resume-queue", "emails"])).stdout) as {
      paused: boolean;
    };
    expect(resumed.paused).toBe(false);
    ({ rows } = await ctx.db.pool.query(
      "SELECT paused FROM reproq.queue_controls WHERE queue_name = 'emails'",
    ));
    expect(rows[0].paused).toBe(false);
    expect((await reproq(["pause-queue"])).code).toBe(2);
  });
});

describe("reproq worker", () => {
  it("warns at start when no task modules were given (only built-in tasks are registered)", async () => {
    const child = spawn(process.execPath, [BIN, "--dsn", ctx.db.url, "worker"], {
      cwd: dir,
      env: cleanEnv(),
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await eventually(async () => stderr.includes("only built-in tasks"), 15_000);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/pass --tasks/);
  });
});
