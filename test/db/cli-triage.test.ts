/**
 * Triage and retention commands (stats, triage list/show/retry, replay, prune) run as the
 * real `reproq` bin from dist/ (build first) against this file's database, plus the public
 * retry(), replay() and stats(). Rows are made with the API and moved to a status in SQL.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConflictError,
  pauseQueue,
  replay,
  retry,
  setRateLimit,
  stats,
  TASK_STATUSES,
  TaskResultNotFoundError,
  task,
  upsertSchedule,
} from "../../src/index.js";
import { pruneRuns } from "../../src/ops/prune.js";
import { type CliResult, lines, runCli } from "../support/cli.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();
const work = task("triage.work", async (n: number) => n);

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-triage-"));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** `reproq --dsn <this file's database> ...args` */
function reproq(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(["--dsn", ctx.db.url, ...args], { cwd: workDir, env });
}

async function row(id: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.task_runs WHERE result_id = $1", [id]);
  return rows[0];
}

/** A READY run of triage.work; equal `n` (and queue) means an equal spec, so it deduplicates. */
async function enqueue(n: number, queue = "default"): Promise<string> {
  return (await work.using({ queue }).enqueue(n)).id;
}

/** Marks a run FAILED after 3 attempts with two recorded errors, finished `agoSeconds` ago. */
async function fail(id: string, agoSeconds = 0, message = "boom"): Promise<void> {
  const errors = [1, 2].map((attempt) => ({
    kind: "exception",
    class: "TypeError",
    message: `${message} ${attempt}`,
    stack: `TypeError: ${message} ${attempt}\n    at handler (tasks.mjs:${attempt}:1)`,
    attempt,
    worker: "host-1",
    at: new Date().toISOString(),
  }));
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs
        SET status = 'FAILED', attempts = 3, max_attempts = 3, cancel_requested = true,
            finished_at = now() - $2 * interval '1 second', last_error = $3, errors_json = $4::jsonb,
            worker_ids = '{host-1}'
      WHERE result_id = $1`,
    [id, agoSeconds, `TypeError: ${message} 2`, JSON.stringify(errors)],
  );
}

async function finish(id: string, status = "SUCCESSFUL", agoSeconds = 0): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = $2, attempts = 1, finished_at = now() - $3 * interval '1 second'
      WHERE result_id = $1`,
    [id, status, agoSeconds],
  );
}

async function failedRun(n: number, queue = "default", agoSeconds = 0): Promise<string> {
  const id = await enqueue(n, queue);
  await fail(id, agoSeconds);
  return id;
}

describe("reproq triage list", () => {
  let ids: string[];
  beforeAll(async () => {
    // Finished 30 s, 20 s and 10 s ago: newest first is the reverse of creation.
    ids = [await failedRun(1, "tl", 30), await failedRun(2, "tl", 20), await failedRun(3, "tl", 10)];
    await finish(await enqueue(4, "tl"));
  });

  it("lists FAILED runs of a queue, newest finished first", async () => {
    const result = await reproq(["--json", "triage", "list", "--queue", "tl"]);
    expect(result.code).toBe(0);
    const runs = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(runs.map((r) => r.id)).toEqual([...ids].reverse());
    expect(runs[0]).toMatchObject({
      queue: "tl",
      taskName: "triage.work",
      attempts: 3,
      maxAttempts: 3,
      lastError: "TypeError: boom 2",
    });
  });

  it("prints a table with attempts a/m and the last error", async () => {
    const result = await reproq(["triage", "list", "--queue", "tl", "--limit", "2"]);
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out[0]).toMatch(/^ID\s+QUEUE\s+TASK\s+ATTEMPTS\s+FINISHED\s+LAST ERROR$/);
    expect(out).toHaveLength(3);
    expect(out[1]).toMatch(
      new RegExp(`^${ids[2]}\\s+tl\\s+triage\\.work\\s+3/3\\s+\\S+Z\\s+TypeError: boom 2$`),
    );
  });

  it("filters by task and says when nothing matches", async () => {
    const none = await reproq(["triage", "list", "--task", "no.such.task"]);
    expect(none).toEqual({ code: 0, stdout: "No failed runs.\n", stderr: "" });
    const byTask = await reproq(["--json", "triage", "list", "--queue", "tl", "--task", "triage.work"]);
    expect(JSON.parse(byTask.stdout)).toHaveLength(3);
  });

  it("exits 2 for a bad --limit", async () => {
    const result = await reproq(["triage", "list", "--limit", "0"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'reproq: --limit: "0" is not valid; give a whole number of at least 1',
    ]);
  });
});

describe("reproq triage show", () => {
  let id: string;
  beforeAll(async () => {
    id = await failedRun(10, "ts");
  });

  it("shows fields, spec, provenance, every error and the last stack", async () => {
    const result = await reproq(["triage", "show", "--id", id]);
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(new RegExp(`^Run ${id}  FAILED\n`));
    expect(out).toMatch(/\n {2}task\s+triage\.work\n/);
    expect(out).toMatch(/\n {2}attempts\s+3\/3\n/);
    expect(out).toContain("\nSpec:\n");
    expect(out).toContain('"task_path": "triage.work"');
    expect(out).toContain("\nProvenance:\n");
    expect(out).toContain("\nErrors (2):\n");
    expect(out).toContain("  1. [exception] TypeError: boom 1 (attempt 1, worker host-1,");
    expect(out).toContain("  2. [exception] TypeError: boom 2 (attempt 2, worker host-1,");
    expect(out).toContain(
      "\nStack of the last error:\n  TypeError: boom 2\n      at handler (tasks.mjs:2:1)\n",
    );
    expect(result.stderr).toBe("");
  });

  it("inspect is an alias, and --json prints the whole record", async () => {
    const alias = await reproq(["triage", "inspect", "--id", id]);
    expect(alias.code).toBe(0);
    expect(alias.stdout).toMatch(new RegExp(`^Run ${id}  FAILED\n`));
    const json = await reproq(["--json", "triage", "show", "--id", id]);
    const detail = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(detail).toMatchObject({ id, status: "FAILED", taskName: "triage.work", queue: "ts" });
    expect((detail.spec as Record<string, unknown>).task_path).toBe("triage.work");
    expect(detail.errors).toHaveLength(2);
    expect(detail.provenance).toEqual(expect.any(Object));
  });

  it("exits 1 for an unknown run and 2 for a malformed or missing id", async () => {
    const unknown = await reproq(["triage", "show", "--id", "987654321"]);
    expect(unknown.code).toBe(1);
    expect(lines(unknown.stderr)).toEqual(["reproq: task run 987654321 does not exist"]);
    const malformed = await reproq(["triage", "show", "--id", "abc"]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^reproq: --id: run id "abc" is not valid/);
    const missing = await reproq(["triage", "show"]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual(["reproq: required option '--id <id>' not specified"]);
  });
});

describe("reproq triage retry", () => {
  it("puts one FAILED run back to READY, keeping its error history", async () => {
    const id = await failedRun(20, "tr1");
    const result = await reproq(["triage", "retry", "--id", id]);
    expect(result).toEqual({ code: 0, stdout: "Retried 1 run(s)\n", stderr: "" });
    const after = await row(id);
    expect(after).toMatchObject({
      status: "READY",
      attempts: 0,
      finished_at: null,
      last_error: null,
      leased_by: null,
      cancel_requested: false,
    });
    expect(after?.errors_json).toHaveLength(2);
    expect(Math.abs((after!.run_after as Date).getTime() - Date.now())).toBeLessThan(10_000);
  });

  it("refuses a run that is not FAILED (exit 1) and an unknown one (exit 1)", async () => {
    const ok = await enqueue(21, "tr1");
    await finish(ok);
    const result = await reproq(["triage", "retry", "--id", ok]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `reproq: run ${ok} is SUCCESSFUL; only FAILED runs can be retried`,
    ]);
    expect((await row(ok))?.status).toBe("SUCCESSFUL");
    const unknown = await reproq(["triage", "retry", "--id", "987654321"]);
    expect(unknown.code).toBe(1);
    expect(lines(unknown.stderr)).toEqual(["reproq: task run 987654321 does not exist"]);
  });

  it("exits 2 unless exactly one of --id, a filter or --all is given", async () => {
    for (const args of [
      [],
      ["--id", "1", "--all"],
      ["--id", "1", "--task", "x"],
      ["--all", "--queue", "q"],
    ]) {
      const result = await reproq(["triage", "retry", ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(lines(result.stderr)).toEqual([
        "reproq: give exactly one of --id, a filter (--task and/or --queue) or --all",
      ]);
    }
    const badQueue = await reproq(["triage", "retry", "--queue", "a b"]);
    expect(badQueue.code).toBe(2);
    expect(badQueue.stderr).toMatch(/^reproq: --queue: queue must be a non-empty name/);
  });

  it("skips a run whose spec is active again and retries the rest", async () => {
    const twin = await failedRun(30, "tr2");
    const active = await enqueue(30, "tr2");
    expect(active).not.toBe(twin);
    const other = await failedRun(31, "tr2");
    const result = await reproq(["triage", "retry", "--queue", "tr2"]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([
      `Skipped run ${twin}: its spec is active again in run ${active}`,
      "Retried 1 run(s); skipped 1 duplicate(s)",
    ]);
    expect((await row(twin))?.status).toBe("FAILED");
    expect((await row(other))?.status).toBe("READY");
    expect((await row(active))?.status).toBe("READY");
  });

  it("of several FAILED runs with one spec, retries only the newest", async () => {
    const older = await failedRun(40, "tr3");
    const newer = await failedRun(40, "tr3");
    const result = await reproq(["--json", "triage", "retry", "--task", "triage.work", "--queue", "tr3"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      retried: [newer],
      skipped: [{ id: older, activeId: newer }],
    });
    expect((await row(older))?.status).toBe("FAILED");
    expect((await row(newer))?.status).toBe("READY");
  });

  it("--all retries every FAILED run", async () => {
    const a = await failedRun(50, "tr4");
    const b = await failedRun(51, "tr5");
    const result = await reproq(["--json", "triage", "retry", "--all"]);
    expect(result.code).toBe(0);
    const outcome = JSON.parse(result.stdout) as { retried: string[]; skipped: unknown[] };
    expect(outcome.retried).toEqual(expect.arrayContaining([a, b]));
    const { rows } = await ctx.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM reproq.task_runs WHERE status = 'FAILED'",
    );
    // Only skipped duplicates stay FAILED.
    expect(rows[0]?.n).toBe(outcome.skipped.length);
  });
});

describe("reproq replay", () => {
  it("enqueues a copy of a finished run with the same spec, linked by provenance", async () => {
    const original = await enqueue(60, "rp");
    await ctx.db.pool.query(
      "UPDATE reproq.task_runs SET priority = 7, max_attempts = 5, timeout_seconds = 42 WHERE result_id = $1",
      [original],
    );
    await finish(original);
    const result = await reproq(["replay", "--id", original]);
    expect(result.code).toBe(0);
    const match = /^Replayed run (\d+) as run (\d+) \(triage\.work on queue rp, READY\)\n$/.exec(
      result.stdout,
    );
    expect(match?.[1]).toBe(original);
    const copy = await row(match![2]!);
    const before = await row(original);
    expect(copy).toMatchObject({
      status: "READY",
      queue_name: "rp",
      priority: 7,
      max_attempts: 5,
      timeout_seconds: 42,
      task_path: "triage.work",
      spec_hash: before?.spec_hash,
      dedup_key: null,
      attempts: 0,
      parent_id: null,
    });
    expect(copy?.spec_json).toEqual(before?.spec_json);
    expect(copy?.provenance_json).toEqual({ ...(before?.provenance_json as object), replay_of: original });
    expect((await row(original))?.status).toBe("SUCCESSFUL");
  });

  it("still creates a new run when the same spec is active again", async () => {
    const original = await failedRun(61, "rp");
    const active = await enqueue(61, "rp");
    const result = await reproq(["--json", "replay", "--id", original]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, string>;
    expect(report).toMatchObject({ replayOf: original, status: "READY", queue: "rp" });
    expect(report.id).not.toBe(active);
    expect(report.id).not.toBe(original);
    expect((await row(active))?.status).toBe("READY");
    expect((await row(report.id!))?.spec_hash).toBe((await row(active))?.spec_hash);
  });

  it("refuses a run that has not finished (exit 1), an unknown one (1) and no id (2)", async () => {
    const ready = await enqueue(62, "rp");
    const result = await reproq(["replay", "--id", ready]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `reproq: run ${ready} is READY; only finished runs (SUCCESSFUL, FAILED, CANCELLED, EXPIRED) can be replayed`,
    ]);
    const unknown = await reproq(["replay", "--id", "987654321"]);
    expect(unknown.code).toBe(1);
    expect(lines(unknown.stderr)).toEqual(["reproq: task run 987654321 does not exist"]);
    const missing = await reproq(["replay"]);
    expect(missing.code).toBe(2);
  });
});

/** `reproq --json prune ...args --dry-run`, which must succeed; its parsed output. */
async function pruneDryRun(args: string[]): Promise<unknown> {
  const dry = await reproq(["--json", "prune", ...args, "--dry-run"]);
  expect(dry.code).toBe(0);
  return JSON.parse(dry.stdout);
}

describe("reproq prune and prune-successful", () => {
  const DAY = 86_400;
  let oldOk: string[];
  let recentOk: string;
  let oldFailed: string;
  let oldCancelled: string;
  beforeAll(async () => {
    oldOk = [];
    for (const n of [70, 71, 72]) {
      const id = await enqueue(n, "pr");
      await finish(id, "SUCCESSFUL", 40 * DAY);
      oldOk.push(id);
    }
    recentOk = await enqueue(73, "pr");
    await finish(recentOk, "SUCCESSFUL", DAY);
    oldFailed = await failedRun(74, "pr", 40 * DAY);
    oldCancelled = await enqueue(75, "pr");
    await finish(oldCancelled, "CANCELLED", 40 * DAY);
  });

  it("--dry-run counts and deletes nothing; without it the runs are deleted", async () => {
    const dry = await reproq(["prune-successful", "--older-than", "30d", "--dry-run"]);
    expect(dry).toEqual({ code: 0, stdout: "Would delete 3 run(s) (SUCCESSFUL)\n", stderr: "" });
    for (const id of oldOk) expect(await row(id)).toBeDefined();

    const real = await reproq(["prune-successful", "--older-than", "30d"]);
    expect(real).toEqual({ code: 0, stdout: "Deleted 3 run(s) (SUCCESSFUL)\n", stderr: "" });
    for (const id of oldOk) expect(await row(id)).toBeUndefined();
    expect(await row(recentOk)).toBeDefined();
    expect(await row(oldFailed)).toBeDefined();
  });

  it("prune takes a list of final statuses (--statuses too) and prints JSON", async () => {
    expect(await pruneDryRun(["--statuses", "failed,CANCELLED", "--older-than", "30d"])).toEqual({
      statuses: ["FAILED", "CANCELLED"],
      olderThanMs: 30 * DAY * 1000,
      field: "finished_at",
      limit: null,
      dryRun: true,
      count: 2,
    });
    const real = await reproq(["prune", "--status", "FAILED,CANCELLED", "--older-than", "30d"]);
    expect(real).toEqual({ code: 0, stdout: "Deleted 2 run(s) (FAILED, CANCELLED)\n", stderr: "" });
    expect(await row(oldFailed)).toBeUndefined();
    expect(await row(oldCancelled)).toBeUndefined();
    expect(await row(recentOk)).toBeDefined();
  });

  it("deletes across many batches, pausing between them by default or at full speed with --no-throttle", async () => {
    const ids: string[] = [];
    for (const n of [80, 81, 82, 83, 84, 85]) {
      const id = await enqueue(n, "pr-batches");
      await finish(id, "EXPIRED", 40 * DAY);
      ids.push(id);
    }
    const throttled = await pruneRuns(ctx.db.pool, "reproq", {
      statuses: ["EXPIRED"],
      olderThanMs: 30 * DAY * 1000,
      batchSize: 1,
      limit: 3,
    });
    expect(throttled.count).toBe(3);
    const rest = await reproq(["prune", "--status", "EXPIRED", "--older-than", "30d", "--no-throttle"]);
    expect(rest).toEqual({ code: 0, stdout: "Deleted 3 run(s) (EXPIRED)\n", stderr: "" });
    for (const id of ids) expect(await row(id)).toBeUndefined();
  });

  it("exits 2 for RUNNING without --force, unfinished runs by finished_at, no status or an age without a unit", async () => {
    const running = await reproq(["prune", "--status", "SUCCESSFUL,RUNNING", "--older-than", "1d"]);
    expect(running.code).toBe(2);
    expect(lines(running.stderr)).toEqual([
      'reproq: --status: status "RUNNING" names runs a worker is executing now; add --force (force: true) to delete them anyway',
    ]);
    const unknown = await reproq(["prune", "--status", "DONE", "--older-than", "1d"]);
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual([
      'reproq: --status: unknown status "DONE"; give any of READY, RUNNING, WAITING, SUCCESSFUL, FAILED, CANCELLED, EXPIRED',
    ]);
    const unfinished = await reproq(["prune", "--status", "READY", "--older-than", "1d"]);
    expect(unfinished.code).toBe(2);
    expect(lines(unfinished.stderr)).toEqual([
      "reproq: --field: READY runs have not finished, so finished_at cannot age them; measure by enqueued_at or updated_at instead",
    ]);
    const field = await reproq(["prune", "--status", "READY", "--field", "created", "--older-than", "1d"]);
    expect(field.code).toBe(2);
    expect(lines(field.stderr)).toEqual([
      'reproq: --field: field "created" is not valid; give one of finished_at, updated_at, enqueued_at, started_at',
    ]);
    const none = await reproq(["prune", "--older-than", "1d"]);
    expect(none.code).toBe(2);
    expect(lines(none.stderr)).toEqual(["reproq: required option '--status <list>' not specified"]);
    const bare = await reproq(["prune-successful", "--older-than", "30"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^reproq: --older-than: /);
    const missing = await reproq(["prune-successful"]);
    expect(missing.code).toBe(2);
  });
});

describe("reproq prune of a backlog (READY, WAITING, RUNNING)", () => {
  const HOUR = 3600;
  async function age(id: string, status: string, agoSeconds: number): Promise<void> {
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = $2, enqueued_at = now() - $3 * interval '1 second' WHERE result_id = $1`,
      [id, status, agoSeconds],
    );
  }

  it("deletes READY and WAITING runs by enqueued_at, bounded by --limit; --dry-run only counts", async () => {
    const old: string[] = [];
    for (const n of [100, 101, 102]) {
      const id = await enqueue(n, "backlog");
      await age(id, "READY", 3 * HOUR);
      old.push(id);
    }
    const waiting = await enqueue(103, "backlog");
    await age(waiting, "WAITING", 3 * HOUR);
    const fresh = await enqueue(104, "backlog");

    const args = [
      "--status",
      "READY",
      "--statuses",
      "waiting",
      "--field",
      "enqueued_at",
      "--older-than",
      "2h",
    ];
    expect(await pruneDryRun(args)).toEqual({
      statuses: ["READY", "WAITING"],
      olderThanMs: 2 * HOUR * 1000,
      field: "enqueued_at",
      limit: null,
      dryRun: true,
      count: 4,
    });
    for (const id of [...old, waiting]) expect(await row(id)).toBeDefined();

    const purge = ["prune", ...args];
    const deleted = { code: 0, stdout: "Deleted 2 run(s) (READY, WAITING)\n", stderr: "" };
    expect(await reproq([...purge, "--limit", "2"])).toEqual(deleted);
    expect(await reproq(purge)).toEqual(deleted);
    for (const id of [...old, waiting]) expect(await row(id)).toBeUndefined();
    expect(await row(fresh)).toBeDefined();
  });

  it("deletes RUNNING runs only with --force", async () => {
    const stuck = await enqueue(110, "backlog");
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = 'RUNNING', started_at = now() - interval '2 days',
              leased_by = 'w-1', leased_until = now() + interval '1 minute', lease_token = gen_random_uuid()
        WHERE result_id = $1`,
      [stuck],
    );
    const args = ["prune", "--status", "RUNNING", "--field", "started_at", "--older-than", "1d"];
    const refused = await reproq(args);
    expect(refused.code).toBe(2);
    expect(await row(stuck)).toBeDefined();
    const forced = await reproq([...args, "--force"]);
    expect(forced).toEqual({ code: 0, stdout: "Deleted 1 run(s) (RUNNING)\n", stderr: "" });
    expect(await row(stuck)).toBeUndefined();
  });
});

describe("reproq stats", () => {
  beforeAll(async () => {
    const due = await enqueue(80, "sq");
    await ctx.db.pool.query(
      "UPDATE reproq.task_runs SET run_after = now() - interval '60 seconds' WHERE result_id = $1",
      [due],
    );
    await work.using({ queue: "sq", runAfter: "1h" }).enqueue(81);
    await failedRun(82, "sq");
    await pauseQueue("sp", { reason: "test" });
    await setRateLimit({ key: "queue:sq", rate: 5, burst: 10 });
    await upsertSchedule({ name: "stats-every-minute", cron: "* * * * *", task: work, args: [1] });
    await ctx.db.pool.query(
      `INSERT INTO reproq.workers (worker_id, hostname, pid, version, queues, concurrency, last_seen_at)
       VALUES ('w-live', 'host-a', 1, '0.1.0', '{default}', 4, now()),
              ('w-gone', 'host-b', 2, '0.1.0', '{sq}', 2, now() - interval '5 minutes')`,
    );
  });

  async function sqlCounts(): Promise<Record<string, number>> {
    const { rows } = await ctx.db.pool.query<{ status: string; n: number }>(
      "SELECT status, count(*)::int AS n FROM reproq.task_runs GROUP BY status",
    );
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0]));
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  it("--json prints counts (zeros included), queues, workers, limits and schedules", async () => {
    const result = await reproq(["--json", "stats"]);
    expect(result.code).toBe(0);
    const data = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(
      ["counts", "expiredLeases", "queues", "rateLimits", "schedulerMode", "schedules", "workers"].sort(),
    );
    expect(data.counts).toEqual(await sqlCounts());
    expect(Object.keys(data.counts as object)).toEqual([...TASK_STATUSES]);
    const queues = data.queues as Array<Record<string, unknown>>;
    const sq = queues.find((q) => q.queue === "sq");
    expect(sq).toMatchObject({
      counts: { READY: 2, RUNNING: 0, WAITING: 0, SUCCESSFUL: 0, FAILED: 1, CANCELLED: 0, EXPIRED: 0 },
      paused: false,
    });
    expect(sq?.oldestReadyAgeMs).toBeGreaterThanOrEqual(59_000);
    expect(sq?.oldestReadyAgeMs).toBeLessThan(120_000);
    expect(queues.find((q) => q.queue === "sp")).toMatchObject({
      paused: true,
      oldestReadyAgeMs: null,
      counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])),
    });
    const workers = data.workers as Array<Record<string, unknown>>;
    expect(workers.map((w) => [w.workerId, w.stale])).toEqual([
      ["w-live", false],
      ["w-gone", true],
    ]);
    expect(data.rateLimits).toEqual([expect.objectContaining({ key: "queue:sq", rate: 5, burst: 10 })]);
    expect(data.schedules).toEqual({ count: 1, enabled: 1 });
    expect(data.schedulerMode).toBe("beat");
    expect(data.expiredLeases).toBe(0);
  });

  it("prints tables as text; status is an alias; the scheduler mode follows the setting", async () => {
    const result = await reproq(["status"], { REPROQ_SCHEDULER_MODE: "pg_cron" });
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out[0]).toMatch(
      /^QUEUE\s+READY\s+RUNNING\s+WAITING\s+SUCCESSFUL\s+FAILED\s+CANCELLED\s+EXPIRED\s+OLDEST READY\s+PAUSED$/,
    );
    expect(out.find((l) => l.startsWith("sq "))).toMatch(/^sq\s+2\s+0\s+0\s+0\s+1\s+0\s+0\s+1m \d+s\s+no$/);
    expect(out.find((l) => l.startsWith("sp "))).toMatch(/^sp\s+(0\s+){7}-\s+yes$/);
    expect(out.some((l) => l.startsWith("(all) "))).toBe(true);
    expect(out).toContain("Workers: 2 (1 stale)");
    expect(out.find((l) => l.includes("w-gone"))).toMatch(/ago \(stale\)$/);
    expect(out).toContain("Rate limits: 1");
    expect(out).toContain("Schedules: 1 (1 enabled), scheduler mode pg_cron");
    expect(out).toContain("Expired leases: 0");
  });

  it("exits 2 without a database", async () => {
    const result = await runCli(["stats"], { cwd: workDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: no database configured/);
  });
});

describe("public retry(), replay() and stats()", () => {
  it("retry() returns the run READY again", async () => {
    const id = await failedRun(90, "api");
    const result = await retry(id);
    expect(result.id).toBe(id);
    expect(result.status).toBe("READY");
    expect(result.attempts).toBe(0);
    expect(result.deduplicated).toBe(false);
    expect(result.errors).toHaveLength(2);
  });

  it("retry() of a run whose spec is active again returns that run, deduplicated", async () => {
    const id = await failedRun(91, "api");
    const active = await enqueue(91, "api");
    const result = await retry(id);
    expect(result.id).toBe(active);
    expect(result.deduplicated).toBe(true);
    expect((await row(id))?.status).toBe("FAILED");
  });

  it("retry() refuses runs that are not FAILED and unknown ids", async () => {
    const id = await enqueue(92, "api");
    await expect(retry(id)).rejects.toBeInstanceOf(ConflictError);
    await expect(retry("987654321")).rejects.toBeInstanceOf(TaskResultNotFoundError);
  });

  it("replay() returns the new run, linked to the original", async () => {
    const id = await enqueue(93, "api");
    await finish(id, "CANCELLED");
    const copy = await replay(id);
    expect(copy.id).not.toBe(id);
    expect(copy.status).toBe("READY");
    expect(copy.args).toEqual([93]);
    expect(copy.provenance.replay_of).toBe(id);
    await expect(replay(copy.id)).rejects.toBeInstanceOf(ConflictError);
  });

  it("stats() matches the database", async () => {
    const snapshot = await stats();
    const { rows } = await ctx.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM reproq.task_runs WHERE status = 'READY'",
    );
    expect(snapshot.counts.READY).toBe(rows[0]?.n);
    expect(snapshot.queues.find((q) => q.queue === "api")?.counts.FAILED).toBe(1);
    expect(snapshot.schedulerMode).toBe("beat");
  });
});
