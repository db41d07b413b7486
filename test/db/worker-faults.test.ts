/**
 * Real worker processes (the `reproq worker` bin), killed, frozen and stopped, against a
 * real PostgreSQL: nothing is lost and nothing is written twice past its lease.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { getResult } from "../../dist/index.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";

const ctx = useReproq();
// The fixture's tasks are defined with the built package, like a user's task modules.
const { sleepy, quick } = await import("../fixtures/fault-tasks.mjs");
const distReproq = await import("../../dist/index.js");

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startWorkerProcess(args: string[]): Proc {
  const child = spawn(
    process.execPath,
    [
      "dist/cli/main.js",
      "worker",
      "--tasks",
      "test/fixtures/fault-tasks.mjs",
      "--poll-interval",
      "200ms",
      ...args,
    ],
    {
      env: { ...process.env, DATABASE_URL: ctx.db.url, REPROQ_MAINTENANCE_INTERVAL: "300ms" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr?.on("data", (chunk) => {
    err += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function statusOf(id: string): Promise<string> {
  const { rows } = await ctx.db.pool.query("SELECT status FROM reproq.task_runs WHERE result_id = $1", [id]);
  return rows[0].status;
}

// The built package keeps its own configuration (a separate module instance from src/).
beforeAll(() => distReproq.configure({ databaseUrl: ctx.db.url }));

describe("worker processes", () => {
  it("exits 0 on SIGTERM after letting the running task finish", async () => {
    const proc = startWorkerProcess(["--queues", "term", "--shutdown-timeout", "20s"]);
    const r = await sleepy.using({ queue: "term" }).enqueue(800, "term");
    await eventually(async () => (await statusOf(r.id)) === "RUNNING", 15_000);
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(await statusOf(r.id)).toBe("SUCCESSFUL");
    const workers = await ctx.db.pool.query("SELECT count(*)::int AS n FROM reproq.workers");
    expect(workers.rows[0].n).toBe(0);
  });

  it("re-runs a task once after its worker is SIGKILLed mid-run", async () => {
    const victim = startWorkerProcess([
      "--queues",
      "kill",
      "--lease-duration",
      "2s",
      "--heartbeat-interval",
      "500ms",
    ]);
    const r = await sleepy.using({ queue: "kill" }).enqueue(1500, "kill");
    await eventually(async () => (await statusOf(r.id)) === "RUNNING", 15_000);
    victim.child.kill("SIGKILL");
    await victim.exited;
    const rescuer = startWorkerProcess([
      "--queues",
      "kill",
      "--lease-duration",
      "2s",
      "--heartbeat-interval",
      "500ms",
    ]);
    try {
      const result = await getResult(r.id);
      await result.wait({ timeout: 30_000 });
      expect(result.status).toBe("SUCCESSFUL");
      expect(result.attempts).toBe(2);
      expect(result.errors.map((e) => e.kind)).toEqual(["lease_expired"]);
      expect(result.workerIds).toHaveLength(2);
      expect((result.returnValue as { pid: number }).pid).toBe(rescuer.child.pid);
    } finally {
      rescuer.child.kill("SIGTERM");
      await rescuer.exited;
    }
  });

  it("drains and exits when the wrapper that started it dies without passing on its signal", async () => {
    // Like `npx reproq worker` under a supervisor: the supervisor's SIGTERM ends the wrapper, whose
    // child (the worker) is adopted by PID 1. Here the wrapper is killed outright.
    const wrapper = spawn(
      process.execPath,
      [
        "-e",
        `const { spawn } = require("node:child_process");
         const worker = spawn(process.execPath, process.argv.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
         console.log(worker.pid);
         setInterval(() => {}, 1000);`,
        "dist/cli/main.js",
        "worker",
        "--tasks",
        "test/fixtures/fault-tasks.mjs",
        "--queues",
        "orphan",
        "--poll-interval",
        "200ms",
      ],
      { env: { ...process.env, DATABASE_URL: ctx.db.url }, stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    wrapper.stdout?.on("data", (chunk) => {
      out += chunk.toString();
    });
    const pid = Number(await eventually(() => out.match(/^(\d+)\n/)?.[1], 15_000));
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      const r = await sleepy.using({ queue: "orphan" }).enqueue(1500, "orphan");
      await eventually(async () => (await statusOf(r.id)) === "RUNNING", 15_000);
      wrapper.kill("SIGKILL");
      // It stops claiming, lets the running task finish, and exits.
      await eventually(() => !alive(), 15_000);
      expect(await statusOf(r.id)).toBe("SUCCESSFUL");
      // A clean stop: it unregistered itself.
      const { rows } = await ctx.db.pool.query(
        "SELECT count(*)::int AS n FROM reproq.workers WHERE pid = $1",
        [pid],
      );
      expect(rows[0].n).toBe(0);
    } finally {
      wrapper.kill("SIGKILL");
      if (alive()) process.kill(pid, "SIGKILL");
    }
  });

  it("rejects the late writes of a worker frozen past its lease", async () => {
    const frozen = startWorkerProcess([
      "--queues",
      "stop",
      "--lease-duration",
      "1500ms",
      "--heartbeat-interval",
      "300ms",
    ]);
    const r = await sleepy.using({ queue: "stop" }).enqueue(2500, "stop");
    await eventually(async () => (await statusOf(r.id)) === "RUNNING", 15_000);
    frozen.child.kill("SIGSTOP");
    const other = startWorkerProcess([
      "--queues",
      "stop",
      "--lease-duration",
      "1500ms",
      "--heartbeat-interval",
      "300ms",
    ]);
    try {
      const result = await getResult(r.id);
      await result.wait({ timeout: 30_000 });
      const winner = (result.returnValue as { pid: number }).pid;
      expect(winner).toBe(other.child.pid);
      const before = await ctx.db.pool.query(
        "SELECT updated_at, return_json FROM reproq.task_runs WHERE result_id = $1",
        [r.id],
      );
      frozen.child.kill("SIGCONT");
      // The thawed worker is done with its copy once it logs the lost lease: found by its
      // heartbeat (it never writes) or by the settle that was refused (its write discarded).
      await eventually(async () => /lease (was )?lost/.test(frozen.stderr()), 15_000);
      const after = await ctx.db.pool.query(
        "SELECT status, updated_at, return_json FROM reproq.task_runs WHERE result_id = $1",
        [r.id],
      );
      expect(after.rows[0].status).toBe("SUCCESSFUL");
      expect(after.rows[0].return_json).toEqual(before.rows[0].return_json);
      expect(after.rows[0].updated_at).toEqual(before.rows[0].updated_at);
    } finally {
      frozen.child.kill("SIGCONT");
      frozen.child.kill("SIGTERM");
      other.child.kill("SIGTERM");
      await Promise.all([frozen.exited, other.exited]);
    }
    const q = await quick.using({ queue: "stop" }).enqueue(1);
    expect(q.status).toBe("READY");
  });
});
