/**
 * Scheduling: saving and validating schedules, due ticks and catch-up policies, run now,
 * recurring() and sync-recurring, and the single-scheduler guarantee with real `reproq beat` /
 * `reproq schedule` processes (build first: they run dist/). Cron and DST rules alone are in
 * test/unit/cron.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSpec, specHash } from "../../src/codec/spec.js";
import {
  deleteSchedule,
  getBackend,
  InvalidInputError,
  listSchedules,
  recurring,
  runScheduleNow,
  syncRecurring,
  task,
  upsertSchedule,
} from "../../src/index.js";
import { runOnce } from "../../src/scheduler/beat.js";
import { parseCron } from "../../src/scheduler/cron.js";
import { clearRecurring } from "../../src/scheduler/recurring.js";
import { upsertScheduleIn } from "../../src/scheduler/schedules.js";
import { BIN, cleanEnv, runCli } from "../support/cli.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";

const DIST_INDEX = pathToFileURL(fileURLToPath(new URL("../../dist/index.js", import.meta.url))).href;

// Without dedup, every tick's run is its own row, so "one run per tick" can be counted exactly.
const ctx = useReproq({ dedupActive: false });
const report = task("sched.report", async (kind: string, n: number) => `${kind}:${n}`);

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "reproq-sched-"));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

interface RunRow {
  result_id: string;
  spec_hash: string;
  task_path: string;
  provenance_json: { schedule?: string; scheduled_for?: string; producer?: string };
}

async function runsOf(schedule: string): Promise<RunRow[]> {
  const { rows } = await ctx.db.pool.query<RunRow>(
    `SELECT result_id, spec_hash, task_path, provenance_json FROM reproq.task_runs
      WHERE provenance_json->>'schedule' = $1 ORDER BY provenance_json->>'scheduled_for', result_id`,
    [schedule],
  );
  return rows;
}

async function scheduleRow(name: string): Promise<Record<string, unknown>> {
  const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.periodic_tasks WHERE name = $1", [name]);
  return rows[0];
}

function tickNow() {
  return runOnce(ctx.db.pool, "reproq", { test: true });
}

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

describe("saving schedules", () => {
  it("rejects an invalid cron expression, a bad timezone and an unknown task with clear errors", async () => {
    const base = { name: "sched.bad", task: report, args: ["x", 1] as [string, number] };
    await expect(upsertSchedule({ ...base, cron: "61 * * * *" })).rejects.toThrow(
      /schedule "sched.bad": cron: invalid cron expression "61 \* \* \* \*"/,
    );
    await expect(upsertSchedule({ ...base, cron: "* * * * * * *" })).rejects.toThrow(/5 or 6 parts/);
    await expect(upsertSchedule({ ...base, cron: "* * * * *", timezone: "Mars/Olympus" })).rejects.toThrow(
      /not a known IANA timezone/,
    );
    await expect(upsertSchedule({ ...base, cron: "* * * * *", task: "sched.nope" })).rejects.toThrow(
      /unknown task "sched.nope"; it is not registered in this process/,
    );
    await expect(upsertSchedule({ ...base, cron: "* * * * *", catchUp: "some" as never })).rejects.toThrow(
      InvalidInputError,
    );
    expect((await listSchedules()).map((s) => s.name)).not.toContain("sched.bad");
  });

  it("stores the canonical spec computed once in TypeScript; a task name string works too", async () => {
    const saved = await upsertSchedule({
      name: "sched.store",
      cron: "0 3 * * *",
      task: "sched.report",
      args: ["a", 1],
    });
    const expected = specHash(buildSpec({ taskPath: "sched.report", args: ["a", 1] }));
    const row = await scheduleRow("sched.store");
    expect(row.spec_canonical).toBe(expected.canonical);
    expect(row.spec_hash).toBe(expected.hash);
    expect(row.payload_json).toEqual({ args: ["a", 1] });
    expect(row.source).toBe("manual");
    expect(saved).toMatchObject({ task: "sched.report", args: ["a", 1], timezone: "UTC", catchUp: "one" });
    expect(saved.nextRunAt?.toISOString()).toMatch(/T03:00:00\.000Z$/);
    expect(await deleteSchedule("sched.store")).toBe(true);
    expect(await deleteSchedule("sched.store")).toBe(false);
  });
});

describe("cron schedules in a timezone", () => {
  it("stores next_run_at in the schedule's timezone", async () => {
    const saved = await upsertSchedule({
      name: "sched.tz",
      cron: "0 9 * * *",
      timezone: "Europe/Berlin",
      task: report,
      args: ["tz", 1],
    });
    expect(saved.nextRunAt?.toISOString()).toBe(
      parseCron("0 9 * * *", "Europe/Berlin").next(new Date())?.toISOString(),
    );
    const berlinHour = new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Berlin",
      hour: "2-digit",
    }).format(saved.nextRunAt!);
    expect(berlinHour).toBe("09");
    await deleteSchedule("sched.tz");
  });
});

describe("ticks", () => {
  it("enqueues due schedules only, through the normal insert path with the stored spec and provenance", async () => {
    await upsertSchedule({
      name: "sched.due",
      cron: "0 0 1 1 *",
      task: report,
      args: ["due", 1],
      nextRunAt: minutesAgo(1),
    });
    await upsertSchedule({ name: "sched.later", cron: "0 0 1 1 *", task: report, args: ["later", 1] });
    const { leader, result } = await tickNow();
    expect(leader).toBe(true);
    expect(result?.schedules.map((s) => s.name)).toEqual(["sched.due"]);

    const runs = await runsOf("sched.due");
    expect(runs).toHaveLength(1);
    const stored = await scheduleRow("sched.due");
    expect(runs[0]!.spec_hash).toBe(stored.spec_hash);
    // The TypeScript producer computes the same hash for the same task and args.
    const direct = await report.enqueue("due", 1);
    const { rows } = await ctx.db.pool.query("SELECT spec_hash FROM reproq.task_runs WHERE result_id = $1", [
      direct.id,
    ]);
    expect(rows[0].spec_hash).toBe(stored.spec_hash);
    expect(runs[0]!.provenance_json).toMatchObject({ schedule: "sched.due", producer: "beat", test: true });
    expect(runs[0]!.provenance_json.scheduled_for).toMatch(/Z$/);
    expect((stored.next_run_at as Date).getUTCMonth()).toBe(0);
    expect((stored.next_run_at as Date) > new Date()).toBe(true);
    expect(stored.last_run_at).not.toBeNull();
    expect(await runsOf("sched.later")).toHaveLength(0);

    // Nothing is due any more: a second tick enqueues nothing.
    expect((await tickNow()).result?.schedules).toEqual([]);
  });

  it("applies the catch-up policies one, all and none after downtime", async () => {
    for (const catchUp of ["one", "all", "none"] as const) {
      await upsertSchedule({
        name: `sched.catch.${catchUp}`,
        cron: "* * * * *",
        task: report,
        args: ["catch", catchUp.length],
        catchUp,
        nextRunAt: new Date(Math.floor(minutesAgo(10).getTime() / 60_000) * 60_000),
      });
    }
    await tickNow();
    const one = await runsOf("sched.catch.one");
    const all = await runsOf("sched.catch.all");
    const none = await runsOf("sched.catch.none");
    expect(one).toHaveLength(1);
    // "one" runs for the most recent missed tick.
    expect(Date.now() - Date.parse(one[0]!.provenance_json.scheduled_for!)).toBeLessThan(61_000);
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(all.length).toBeLessThanOrEqual(12);
    const times = all.map((r) => Date.parse(r.provenance_json.scheduled_for!));
    expect(new Set(times).size).toBe(times.length);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(60_000);
    expect(none).toHaveLength(0);
    for (const policy of ["one", "all", "none"]) {
      const row = await scheduleRow(`sched.catch.${policy}`);
      expect((row.next_run_at as Date).getTime()).toBeGreaterThan(Date.now() - 1000);
    }
  });

  it("caps catch-up all at the 100 most recent missed ticks", async () => {
    await upsertSchedule({
      name: "sched.cap",
      cron: "* * * * * *",
      task: report,
      args: ["cap", 1],
      catchUp: "all",
      nextRunAt: minutesAgo(60),
    });
    const { result } = await tickNow();
    const tick = result?.schedules.find((s) => s.name === "sched.cap");
    expect(tick?.runIds).toHaveLength(100);
    expect(tick?.skippedMissed).toBe(true);
    await deleteSchedule("sched.cap");
  });

  it("runs a schedule on the next tick after runScheduleNow() or nextRunAt: new Date()", async () => {
    await upsertSchedule({ name: "sched.now", cron: "0 0 1 1 *", task: report, args: ["now", 1] });
    await runScheduleNow("sched.now");
    await tickNow();
    expect(await runsOf("sched.now")).toHaveLength(1);
    await upsertSchedule({
      name: "sched.now",
      cron: "0 0 1 1 *",
      task: report,
      args: ["now", 1],
      nextRunAt: new Date(),
    });
    await tickNow();
    expect(await runsOf("sched.now")).toHaveLength(2);
    expect(((await scheduleRow("sched.now")).next_run_at as Date) > new Date()).toBe(true);
    await expect(runScheduleNow("sched.missing")).rejects.toThrow(/no schedule named "sched.missing"/);
  });

  it("deduplicates against an active run of the same spec when dedup is on", async () => {
    const config = { ...(await getBackend().config()), dedupActive: true };
    await upsertScheduleIn(ctx.db.pool, "reproq", config, {
      name: "sched.dedup",
      cron: "0 0 1 1 *",
      task: report,
      args: ["dedup", 1],
      nextRunAt: new Date(),
    });
    const first = (await tickNow()).result?.schedules.find((s) => s.name === "sched.dedup");
    await runScheduleNow("sched.dedup");
    const second = (await tickNow()).result?.schedules.find((s) => s.name === "sched.dedup");
    expect(first?.runIds).toHaveLength(1);
    expect(second).toMatchObject({ runIds: [], deduplicated: 1 });
    expect(await runsOf("sched.dedup")).toHaveLength(1);
  });

  it("skips disabled schedules", async () => {
    await upsertSchedule({
      name: "sched.off",
      cron: "* * * * *",
      task: report,
      args: ["off", 1],
      enabled: false,
      nextRunAt: minutesAgo(5),
    });
    await tickNow();
    expect(await runsOf("sched.off")).toHaveLength(0);
  });
});

describe("recurring() and sync", () => {
  it("syncRecurring() upserts code schedules and disables removed ones, never touching manual ones", async () => {
    clearRecurring();
    const weekly = task("sched.weekly", async () => "ok");
    expect(recurring(weekly, { schedule: "0 6 * * 1", key: "rec.weekly", args: [] })).toBe(weekly);
    await upsertSchedule({ name: "rec.manual", cron: "0 7 * * *", task: weekly });
    let result = await syncRecurring();
    expect(result.added).toEqual(["rec.weekly"]);
    expect((await scheduleRow("rec.weekly")).source).toBe("code");

    clearRecurring();
    recurring(weekly, { schedule: "0 6 * * 1", key: "rec.manual" });
    result = await syncRecurring();
    expect(result).toMatchObject({ added: [], disabled: ["rec.weekly"], conflicts: ["rec.manual"] });
    const manual = await scheduleRow("rec.manual");
    expect(manual).toMatchObject({ source: "manual", enabled: true, cron_expr: "0 7 * * *" });
    clearRecurring();
  });
});

describe("CLI", () => {
  function reproq(args: string[], env: Record<string, string> = {}) {
    return runCli(["--dsn", ctx.db.url, ...args], { cwd: workDir, env, timeoutMs: 20_000 });
  }

  it("sync-recurring adds, updates and disables code schedules; migrate autosyncs unless disabled", async () => {
    const file = path.join(workDir, "recurring-tasks.mjs");
    const write = (body: string) =>
      writeFile(
        file,
        `import { recurring, task } from ${JSON.stringify(DIST_INDEX)};\nconst t = task("cli.rec", async (n) => n);\n${body}\n`,
      );
    await upsertSchedule({ name: "cli.manual", cron: "0 8 * * *", task: report, args: ["m", 1] });

    await write(`recurring(t, { schedule: "0 1 * * *", key: "cli.a", args: [1] });
recurring(t, { schedule: "0 2 * * *", key: "cli.b", args: [2] });`);
    let result = await reproq(["sync-recurring", "--tasks", file]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Added: cli.a, cli.b");

    await write(`recurring(t, { schedule: "0 3 * * *", key: "cli.a", args: [1] });`);
    result = await reproq(["--json", "sync-recurring", "--tasks", file]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ updated: ["cli.a"], disabled: ["cli.b"] });
    expect(await scheduleRow("cli.a")).toMatchObject({
      cron_expr: "0 3 * * *",
      enabled: true,
      source: "code",
    });
    expect(await scheduleRow("cli.b")).toMatchObject({ enabled: false, source: "code" });
    expect(await scheduleRow("cli.manual")).toMatchObject({ enabled: true, source: "manual" });

    await write(`recurring(t, { schedule: "0 4 * * *", key: "cli.a", args: [1] });`);
    result = await reproq(["migrate", "--tasks", file], { REPROQ_RECURRING_AUTOSYNC: "false" });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain("Recurring");
    expect((await scheduleRow("cli.a")).cron_expr).toBe("0 3 * * *");
    result = await reproq(["migrate"], { REPROQ_TASKS: file });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Recurring schedules: Updated: cli.a");
    expect((await scheduleRow("cli.a")).cron_expr).toBe("0 4 * * *");

    result = await reproq(["sync-recurring"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: no task modules configured/);
  });

  it("refuses to beat in pg_cron mode and rejects a bad --interval (exit 2)", async () => {
    let result = await reproq(["schedule"], { REPROQ_SCHEDULER_MODE: "pg_cron" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: schedulerMode is "pg_cron"/);
    result = await reproq(["beat", "--interval", "soon"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: --interval/);
  });

  it("two beats and a one-shot: one active scheduler, exactly one run per tick, failover", async () => {
    const names = ["beat.1", "beat.2", "beat.3"];
    for (const name of names) {
      await upsertSchedule({
        name,
        cron: "* * * * * *",
        task: report,
        args: [name, 0],
        catchUp: "all",
        nextRunAt: new Date(),
      });
    }
    const ticks = () => Promise.all(names.map(async (name) => (await runsOf(name)).length));
    const ticksAfter = (before: number[], more: number) =>
      eventually(async () => (await ticks()).every((n, i) => n >= before[i]! + more));
    const beats: Array<{ proc: ChildProcess; stderr: string; exit: Promise<number | null> }> = [];
    for (let i = 0; i < 2; i++) {
      const proc = spawn(process.execPath, [BIN, "--dsn", ctx.db.url, "beat", "--interval", "150ms"], {
        cwd: workDir,
        env: cleanEnv(),
        stdio: ["ignore", "ignore", "pipe"],
      });
      const entry = {
        proc,
        stderr: "",
        exit: new Promise<number | null>((r) => proc.on("exit", (code) => r(code))),
      };
      proc.stderr!.on("data", (chunk: Buffer) => {
        entry.stderr += chunk.toString();
      });
      beats.push(entry);
    }
    try {
      const leaderIndex = await eventually(async () => {
        const i = beats.findIndex((b) => b.stderr.includes("became the active scheduler"));
        return i >= 0 ? i + 1 : 0;
      });
      // Both beats stay up while every schedule gets two more ticks; the standby, trying every
      // 150 ms meanwhile, must have stood by (and the runs must show one per tick).
      await ticksAfter(await ticks(), 2);
      expect(beats.filter((b) => b.stderr.includes("became the active scheduler"))).toHaveLength(1);

      const once = await reproq(["schedule"]);
      expect(once.code).toBe(0);
      expect(once.stdout).toMatch(/Another scheduler is active on schema "reproq"/);

      // Failover: stop the leader; the standby takes over.
      const leader = beats[leaderIndex - 1]!;
      const standby = beats[2 - leaderIndex]!;
      leader.proc.kill("SIGTERM");
      expect(await leader.exit).toBe(0);
      await eventually(async () => standby.stderr.includes("became the active scheduler"));
      // Ticks enqueued from here on are the standby's: the gap check below spans the failover.
      await ticksAfter(await ticks(), 2);
    } finally {
      for (const b of beats) b.proc.kill("SIGTERM");
      await Promise.all(beats.map((b) => b.exit));
    }
    for (const name of names) {
      const runs = await runsOf(name);
      const ticks = runs.map((r) => r.provenance_json.scheduled_for);
      expect(new Set(ticks).size, `${name}: one run per tick`).toBe(ticks.length);
      expect(runs.length).toBeGreaterThanOrEqual(3);
      // Consecutive seconds with no gap: the failover neither skipped nor repeated a tick.
      // (The first tick is the off-grid "now" the schedule was saved with.)
      const times = ticks.map((t) => Date.parse(t!));
      for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
    }
  });

  it("a one-shot with no other scheduler enqueues the due schedules and prints them", async () => {
    await upsertSchedule({
      name: "once.due",
      cron: "0 0 1 1 *",
      task: report,
      args: ["once", 1],
      nextRunAt: minutesAgo(1),
    });
    const result = await reproq(["--json", "schedule"]);
    expect(result.code).toBe(0);
    const data = JSON.parse(result.stdout);
    expect(data.leader).toBe(true);
    expect(data.schedules.find((s: { name: string }) => s.name === "once.due").runIds).toHaveLength(1);
    expect(await runsOf("once.due")).toHaveLength(1);
  });
});

describe("schedules resolve runs like enqueue", () => {
  it("takes the task's own expiry and rejects a key function that returns a non-string", async () => {
    const expiring = task("sched.expiring", { expiresIn: "5m", maxAttempts: 4 }, async (n: number) => n);
    await upsertSchedule({ name: "expiring", cron: "0 3 * * *", task: expiring, args: [1] });
    const { rows } = await ctx.db.pool.query(
      "SELECT options_json FROM reproq.periodic_tasks WHERE name = 'expiring'",
    );
    expect(rows[0].options_json).toMatchObject({ expires_in_ms: 300_000, max_attempts: 4 });

    const badKey = task(
      "sched.bad-key",
      // A key function that does not return a string is a programming error, at enqueue and here alike.
      { concurrency: { key: (n: number) => n as unknown as string, limit: 1 } },
      async (n: number) => n,
    );
    await expect(badKey.enqueue(7)).rejects.toThrow(/concurrencyKey must be a string/);
    await expect(
      upsertSchedule({ name: "bad-key", cron: "0 3 * * *", task: badKey, args: [7] }),
    ).rejects.toThrow(/concurrencyKey must be a string/);
  });
});
