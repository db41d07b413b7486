/**
 * Setup and administration commands (init, check/doctor, allowlist, systemd, stress-test,
 * upgrade) run as the real `reproq` bin from dist/ (build first).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noop } from "../../src/builtins.js";
import { advisoryKey } from "../../src/db/names.js";
import { Backend, loadConfig } from "../../src/index.js";
import { upsertScheduleIn } from "../../src/scheduler/schedules.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../src/sql/migrations/index.js";
import { type CliResult, lines, runCli } from "../support/cli.js";
import {
  createEmptyDatabase,
  createTestDatabase,
  dropTestDatabase,
  type TestDatabase,
} from "../support/db.js";
import { useReproq } from "../support/reproq.js";
import { startWorker } from "../support/worker.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST_INDEX = pathToFileURL(path.join(ROOT, "dist/index.js")).href;

const ctx = useReproq();

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-admin-"));
  // Task modules for the subprocesses: they import the built library, as a user's modules would.
  await writeFile(
    path.join(workDir, "tasks.mjs"),
    `import { task } from ${JSON.stringify(DIST_INDEX)};
export const send = task("emails.send", async () => 1);
export const digest = task("emails.digest", async () => 2);
export const build = task("reports.monthly.build", async () => 3);
export const cleanup = task("cleanup", async () => 4);
`,
  );
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function run(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
) {
  return runCli(args, { cwd: options.cwd ?? workDir, env: options.env, timeoutMs: options.timeoutMs });
}

/** Output lines with column padding collapsed to two spaces, so expectations do not depend on widths. */
function squashed(text: string): string[] {
  return lines(text).map((line) => line.replace(/ {2,}/g, "  "));
}

async function freshDir(name: string): Promise<string> {
  const dir = path.join(workDir, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe("reproq init", () => {
  it.each([
    ["yaml", "reproq.yaml"],
    ["toml", "reproq.toml"],
    ["ts", "reproq.config.ts"],
  ] as const)("writes a %s file that loads and validates", async (format, name) => {
    const dir = await freshDir(`init-${format}`);
    // reproq.config.ts imports "reproq": make the package resolvable from the temp directory.
    await mkdir(path.join(dir, "node_modules"), { recursive: true });
    await symlink(ROOT, path.join(dir, "node_modules", "reproq"), "dir");
    const result = await run(["init", "--format", format, "--skip-migrate", "--tasks", "dist/tasks/*.js"], {
      cwd: dir,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(lines(result.stdout).slice(0, 2)).toEqual([
      `Wrote ${name}`,
      "Migrations skipped (--skip-migrate)",
    ]);
    expect(result.stdout).toContain("npx reproq worker --tasks");
    const text = await readFile(path.join(dir, name), "utf8");
    expect(text).toContain("DATABASE_URL");
    expect(text).not.toMatch(/^\s*databaseUrl/m);
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.file).toBe(path.join(dir, name));
    expect(config.values).toMatchObject({
      schema: "reproq",
      queues: ["default"],
      concurrency: 10,
      tasks: ["dist/tasks/*.js"],
    });
    expect(config.values.allowedTaskModules).toBeUndefined();
    // The metrics server is shown, commented out: uncommenting it gives a valid address.
    expect(text).toMatch(/metricsAddr/);
    expect(config.values.metricsAddr).toBeUndefined();
    expect(config.sources.concurrency).toEqual({ kind: "file", path: path.join(dir, name) });
  });

  it("writes tasks commented out without --tasks, and notes that no database is configured", async () => {
    const dir = await freshDir("init-nodb");
    const result = await run(["init"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(lines(result.stdout)[1]).toBe(
      "Migrations skipped: no database configured (set DATABASE_URL, then run reproq migrate)",
    );
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.values.tasks).toBeUndefined();
  });

  it("refuses to overwrite without --force (exit 1), and overwrites with it", async () => {
    const dir = await freshDir("init-force");
    await writeFile(path.join(dir, "reproq.yaml"), "concurrency: 3\n");
    const refused = await run(["init", "--skip-migrate"], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(lines(refused.stderr)).toEqual([
      "reproq: reproq.yaml already exists; pass --force to overwrite it",
    ]);
    expect(await readFile(path.join(dir, "reproq.yaml"), "utf8")).toBe("concurrency: 3\n");

    const other = await run(["init", "--format", "toml", "--skip-migrate"], { cwd: dir });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /^reproq: reproq\.yaml already exists here and reproq reads one config file/,
    );
    expect(existsSync(path.join(dir, "reproq.toml"))).toBe(false);

    const forced = await run(["init", "--skip-migrate", "--force"], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(await readFile(path.join(dir, "reproq.yaml"), "utf8")).toContain("concurrency: 10");
  });

  it("applies migrations when a database is configured", async () => {
    const empty = await createEmptyDatabase();
    try {
      const dir = await freshDir("init-migrate");
      const result = await run(["--json", "init"], { cwd: dir, env: { DATABASE_URL: empty.url } });
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({
        file: path.join(dir, "reproq.yaml"),
        format: "yaml",
        migrations: "applied",
      });
      expect(report.applied.length).toBeGreaterThan(0);
      const check = await run(["migrate", "--check"], { cwd: dir, env: { DATABASE_URL: empty.url } });
      expect(check.code).toBe(0);
    } finally {
      await dropTestDatabase(empty);
    }
  });

  it("exits 2 for an unknown format", async () => {
    const result = await run(["init", "--format", "json"], { cwd: await freshDir("init-bad") });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^reproq: option '--format <format>' argument 'json' is invalid/);
  });
});

describe("reproq check / doctor", () => {
  let db: TestDatabase;
  let backend: Backend;

  beforeAll(async () => {
    db = await createTestDatabase();
    backend = new Backend({ alias: "doctor", overrides: { databaseUrl: db.url } });
  });
  afterAll(async () => {
    await backend.close();
    await dropTestDatabase(db);
  });

  async function reset(): Promise<void> {
    await db.pool.query("DELETE FROM reproq.task_runs");
    await db.pool.query("DELETE FROM reproq.workers");
  }

  function doctor(args: string[]): Promise<CliResult> {
    return run(["--dsn", db.url, ...args, "--tasks", "tasks.mjs"]);
  }

  function statuses(result: CliResult): Record<string, string[]> {
    const findings = JSON.parse(result.stdout) as Array<{ check: string; status: string }>;
    const byCheck: Record<string, string[]> = {};
    for (const f of findings) byCheck[f.check] = [...(byCheck[f.check] ?? []), f.status];
    return byCheck;
  }

  it("reports all ok on a healthy setup (exit 0, also with --strict)", async () => {
    await reset();
    await startWorker({ databaseUrl: db.url, queues: ["default", "bulk-*"] });
    // Due in an hour: they stay READY (the worker leaves them), in queues the worker serves.
    await backend.bulkEnqueue([
      [noop, [1], { runAfter: "1h" }],
      [noop, [2], { queue: "bulk-1", runAfter: "1h" }],
    ]);
    const result = await doctor(["doctor", "--strict"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const out = squashed(result.stdout);
    expect(out[0]).toMatch(/^ok {2}database {2}reachable \(PostgreSQL [\d.]+/);
    expect(out).toContain("ok  tasks  1 module(s) imported, 4 task(s) registered");
    expect(out.some((l) => /^ok {2}workers {2}1 live worker\(s\)/.test(l))).toBe(true);
    expect(out).toContain("ok  queues  2 READY run(s), every queue has a live worker");
    expect(out.at(-1)).toMatch(/^\d+ ok, 0 warning\(s\), 0 failed$/);

    const json = await doctor(["--json", "doctor"]);
    expect(json.code).toBe(0);
    expect(statuses(json)).toEqual({
      database: ["ok"],
      schema: ["ok"],
      tasks: ["ok"],
      "allow-list": ["ok"],
      workers: ["ok"],
      queues: ["ok"],
      scheduler: ["ok"],
      pg_cron: ["ok"],
    });
    for (const finding of JSON.parse(json.stdout)) {
      expect(Object.keys(finding).sort()).toEqual(
        finding.hint === undefined ? ["check", "message", "status"] : ["check", "hint", "message", "status"],
      );
    }
  });

  it("check runs only the essential checks", async () => {
    const result = await doctor(["--json", "check"]);
    expect(result.code).toBe(0);
    expect(Object.keys(statuses(result))).toEqual(["database", "schema", "tasks", "allow-list"]);
  });

  it("warns about a stale worker row and exits 1 only with --strict", async () => {
    await reset();
    await startWorker({ databaseUrl: db.url });
    await db.pool.query(
      `INSERT INTO reproq.workers (worker_id, hostname, version, queues, concurrency, last_seen_at)
       VALUES ('gone-1', 'gone', '0.0.1', '{default}', 1, now() - interval '1 hour')`,
    );
    const result = await doctor(["doctor"]);
    expect(result.code).toBe(0);
    expect(squashed(result.stdout)).toContain(
      "warn  workers  1 stale worker row(s) not seen for over 60s: gone-1  (reproq prune-workers --older-than 10m)",
    );
    const strict = await doctor(["doctor", "--strict"]);
    expect(strict.code).toBe(1);
    expect(lines(strict.stderr)).toEqual(["reproq: 0 check(s) failed, 1 warning(s) with --strict"]);
  });

  it("warns about READY runs in queues no live worker serves", async () => {
    await reset();
    await startWorker({ databaseUrl: db.url, queues: ["default"] });
    await backend.bulkEnqueue([
      [noop, [10], { queue: "orphans" }],
      [noop, [11], { queue: "orphans" }],
      [noop, [12], { queue: "reports" }],
    ]);
    const result = await doctor(["doctor"]);
    expect(result.code).toBe(0);
    expect(squashed(result.stdout)).toContain(
      "warn  queues  READY runs in queues no live worker serves: orphans (2), reports (1)  (start a worker with --queues naming them)",
    );
  });

  it("warns when no worker is live", async () => {
    await reset();
    const result = await doctor(["doctor"]);
    expect(result.code).toBe(0);
    expect(squashed(result.stdout)).toContain(
      "warn  workers  no live workers  (start one: reproq worker --tasks GLOBS)",
    );
  });

  it("reports the scheduler: schedules without a beat, an active beat, pg_cron mode without pg_cron", async () => {
    await reset();
    await upsertScheduleIn(db.pool, "reproq", await backend.config(), {
      name: "nightly",
      cron: "0 3 * * *",
      task: noop,
      args: [1],
    });
    const idle = await doctor(["doctor"]);
    expect(squashed(idle.stdout)).toContain(
      "warn  scheduler  mode beat, 1 enabled schedule(s) but no active reproq beat  (run reproq beat (or schedulerMode cron with reproq schedule in crontab))",
    );

    // A beat holds a session advisory lock on the scheduler key; hold it as one would.
    const client = await db.pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock($1::bigint)", [advisoryKey("reproq", "scheduler")]);
      const active = await doctor(["doctor"]);
      expect(squashed(active.stdout)).toContain(
        "ok  scheduler  mode beat, 1 enabled schedule(s), reproq beat is active",
      );
    } finally {
      await client.query("SELECT pg_advisory_unlock_all()");
      client.release();
    }

    const pgCron = await run(["--dsn", db.url, "doctor", "--tasks", "tasks.mjs"], {
      env: { REPROQ_SCHEDULER_MODE: "pg_cron" },
    });
    expect(pgCron.code).toBe(1);
    expect(squashed(pgCron.stdout)).toContain(
      "fail  pg_cron  schedulerMode is pg_cron but the pg_cron extension is not installed  (install pg_cron and run CREATE EXTENSION pg_cron, or change schedulerMode)",
    );
    await db.pool.query("DELETE FROM reproq.periodic_tasks");
  });

  it("flags allow-list entries that match nothing and tasks it refuses", async () => {
    const result = await run(["--dsn", db.url, "check", "--tasks", "tasks.mjs"], {
      env: { REPROQ_ALLOWED_TASK_MODULES: "emails.,billing." },
    });
    expect(result.code).toBe(0);
    const out = squashed(result.stdout);
    expect(out).toContain(
      "warn  allow-list  entries matching no registered task: billing.  (reproq allowlist prints a list computed from your tasks)",
    );
    expect(
      out.some((l) =>
        l.startsWith(
          "warn  allow-list  registered tasks the allow-list refuses: cleanup, reports.monthly.build",
        ),
      ),
    ).toBe(true);
  });

  it("fails on an unmigrated database (exit 1) and keeps checking the rest", async () => {
    const empty = await createEmptyDatabase();
    try {
      const result = await run(["--dsn", empty.url, "doctor", "--tasks", "tasks.mjs"]);
      expect(result.code).toBe(1);
      const out = squashed(result.stdout);
      expect(out[1]).toBe(
        `fail  schema  schema "reproq" is at version 0, this package needs ${LATEST_SCHEMA_VERSION} (${MIGRATIONS.length} pending)  (run reproq migrate)`,
      );
      expect(out[2]).toMatch(/^ok {2}tasks/);
      expect(lines(result.stderr)).toEqual(["reproq: 1 check(s) failed"]);
    } finally {
      await dropTestDatabase(empty);
    }
  });

  it("fails when the database is unreachable or not configured", async () => {
    const down = await run(["--dsn", "postgres://app@127.0.0.1:1/app", "check"]);
    expect(down.code).toBe(1);
    expect(squashed(down.stdout)[0]).toMatch(/^fail {2}database {2}cannot reach PostgreSQL/);
    const none = await run(["--json", "check"]);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout)[0]).toEqual({
      check: "database",
      status: "fail",
      message: "no database configured",
      hint: "pass --dsn, set DATABASE_URL, or set databaseUrl in the config",
    });
  });

  it("fails when a task module cannot be imported", async () => {
    await writeFile(path.join(workDir, "broken.mjs"), "throw new Error('boom');\n");
    const result = await run(["--dsn", db.url, "check", "--tasks", "broken.mjs"]);
    expect(result.code).toBe(1);
    expect(squashed(result.stdout)[2]).toMatch(
      /^fail {2}tasks {2}tasks: could not import .*broken\.mjs: boom/,
    );
  });
});

describe("reproq allowlist", () => {
  it("prints the prefixes of the registered tasks", async () => {
    const result = await run(["allowlist", "--tasks", "tasks.mjs"]);
    expect(result).toEqual({ code: 0, stdout: "cleanup\nemails.\nreports.monthly.\n", stderr: "" });
    const json = await run(["--json", "allowlist", "--tasks", "tasks.mjs"]);
    expect(JSON.parse(json.stdout)).toEqual({
      entries: ["cleanup", "emails.", "reports.monthly."],
      tasks: ["cleanup", "emails.digest", "emails.send", "reports.monthly.build"],
    });
  });

  it("writes allowedTaskModules into a YAML file, keeping its comments", async () => {
    const dir = await freshDir("allow-yaml");
    const file = path.join(dir, "reproq.yaml");
    await writeFile(
      file,
      "# Production settings\nconcurrency: 4 # per pod\ntasks:\n  - ../tasks.mjs\nallowedTaskModules:\n  - old.\n",
    );
    const result = await run(["allowlist", "--write", "--config", "reproq.yaml"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(lines(result.stdout)[0]).toBe("Wrote allowedTaskModules (3 entries) to reproq.yaml:");
    const text = await readFile(file, "utf8");
    expect(text).toContain("# Production settings");
    expect(text).toContain("concurrency: 4 # per pod");
    expect(text).not.toContain("old.");
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.values.allowedTaskModules).toEqual(["cleanup", "emails.", "reports.monthly."]);
    expect(config.values.concurrency).toBe(4);
  });

  it("writes allowedTaskModules into a TOML file", async () => {
    const dir = await freshDir("allow-toml");
    const file = path.join(dir, "reproq.toml");
    await writeFile(file, '# Worker settings\nconcurrency = 4\ntasks = ["../tasks.mjs"]\n');
    const result = await run(["allowlist", "--write"], { cwd: dir });
    expect(result.code).toBe(0);
    const text = await readFile(file, "utf8");
    expect(text).toContain("# Worker settings");
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.values.allowedTaskModules).toEqual(["cleanup", "emails.", "reports.monthly."]);
    expect(config.values.tasks).toEqual(["../tasks.mjs"]);

    // A second write replaces the line in place.
    await run(["allowlist", "--write", "--tasks", "../tasks.mjs"], { cwd: dir });
    expect((await readFile(file, "utf8")).match(/allowedTaskModules/g)).toHaveLength(1);
  });

  it("exits 2 without task modules, without a config file to write, or for a TypeScript config", async () => {
    const none = await run(["allowlist"], { cwd: await freshDir("allow-none") });
    expect(none.code).toBe(2);
    expect(lines(none.stderr)).toEqual([
      "reproq: no task modules configured: pass --tasks or set tasks (REPROQ_TASKS)",
    ]);
    const noFile = await run(["allowlist", "--write", "--tasks", "../tasks.mjs"], {
      cwd: await freshDir("allow-nofile"),
    });
    expect(noFile.code).toBe(2);
    expect(lines(noFile.stderr)).toEqual([
      "reproq: --write: no config file; pass --config FILE (a .yaml or .toml file)",
    ]);
    const dir = await freshDir("allow-json");
    await writeFile(path.join(dir, "reproq.config.json"), '{ "tasks": ["../tasks.mjs"] }\n');
    const json = await run(["allowlist", "--write"], { cwd: dir });
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(
      /^reproq: --write supports YAML and TOML config files, not reproq\.config\.json/,
    );
  });
});

describe("reproq systemd", () => {
  const analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));

  function verify(files: string[]): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(analyze ?? "false", ["verify", ...files], (error, _stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
      });
    });
  }

  it("writes a worker and a beat service", async () => {
    const dir = await freshDir("systemd-beat");
    await writeFile(path.join(dir, "reproq.env"), "DATABASE_URL=postgres://app@db/app\n");
    const result = await run(
      [
        "systemd",
        "--user",
        "app",
        "--concurrency",
        "20",
        "--environment-file",
        "reproq.env",
        "--tasks",
        "dist/tasks/*.js",
        "--output-dir",
        "units",
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    expect(lines(result.stdout).slice(0, 2)).toEqual([
      `Wrote ${path.join(dir, "units/reproq-worker.service")}`,
      `Wrote ${path.join(dir, "units/reproq-beat.service")}`,
    ]);
    const worker = await readFile(path.join(dir, "units/reproq-worker.service"), "utf8");
    const cli = path.join(ROOT, "dist/cli/main.js");
    expect(worker).toContain(
      `ExecStart=${process.execPath} ${cli} worker --tasks dist/tasks/*.js --concurrency 20\n`,
    );
    expect(worker).toContain(`WorkingDirectory=${dir}\n`);
    expect(worker).toContain(`EnvironmentFile=${path.join(dir, "reproq.env")}\n`);
    expect(worker).toContain("User=app\n");
    expect(worker).toContain("Restart=on-failure\n");
    expect(worker).toContain("KillSignal=SIGTERM\n");
    // Default shutdown timeout 30s plus a margin.
    expect(worker).toContain("TimeoutStopSec=45\n");
    expect(worker).not.toContain("DATABASE_URL");
    const beat = await readFile(path.join(dir, "units/reproq-beat.service"), "utf8");
    expect(beat).toContain(`ExecStart=${process.execPath} ${cli} beat --tasks dist/tasks/*.js\n`);

    const again = await run(["systemd", "--output-dir", "units"], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^reproq: reproq-worker\.service, reproq-beat\.service already exist/);
  });

  it("writes a oneshot schedule service and a timer with --schedule", async () => {
    const dir = await freshDir("systemd-timer");
    const result = await run(["systemd", "--schedule", "--schedule-on-calendar", "*-*-* *:0/5:00"], {
      cwd: dir,
    });
    expect(result.code).toBe(0);
    expect(existsSync(path.join(dir, "reproq-beat.service"))).toBe(false);
    const service = await readFile(path.join(dir, "reproq-schedule.service"), "utf8");
    expect(service).toContain("Type=oneshot\n");
    expect(service).toMatch(/ExecStart=\S+ \S+main\.js schedule\n/);
    const timer = await readFile(path.join(dir, "reproq-schedule.timer"), "utf8");
    expect(timer).toContain("OnCalendar=*-*-* *:0/5:00\n");
    expect(timer).toContain("Unit=reproq-schedule.service\n");
    expect(result.stdout).toContain("sudo systemctl enable --now reproq-worker reproq-schedule.timer");
  });

  it.skipIf(analyze === undefined)("passes systemd-analyze verify", async () => {
    const dir = await freshDir("systemd-verify");
    await run(["systemd", "--output-dir", "a"], { cwd: dir });
    await run(["systemd", "--schedule", "--output-dir", "b"], { cwd: dir });
    const files = [
      "a/reproq-worker.service",
      "a/reproq-beat.service",
      "b/reproq-schedule.service",
      "b/reproq-schedule.timer",
    ];
    const result = await verify(files.map((f) => path.join(dir, f)));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("exits 2 for a bad --concurrency", async () => {
    const result = await run(["systemd", "--concurrency", "lots"], { cwd: await freshDir("systemd-bad") });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'reproq: --concurrency: "lots" is not valid; give a whole number of at least 1',
    ]);
  });
});

describe("reproq stress-test", () => {
  it("enqueues 500 distinct runs and waits until a worker drains them", async () => {
    await startWorker({ databaseUrl: ctx.db.url, concurrency: 50, queues: ["stress"] });
    const result = await run(
      [
        "--dsn",
        ctx.db.url,
        "--json",
        "stress-test",
        "--count",
        "500",
        "--batch",
        "200",
        "--queue",
        "stress",
        "--wait",
      ],
      { timeoutMs: 60_000 },
    );
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ count: 500, failed: 0 });
    for (const key of ["enqueueSeconds", "enqueueRate", "drainSeconds", "drainRate"]) {
      expect(report[key]).toBeGreaterThan(0);
    }
    // Progress went to stderr as plain lines (not a terminal).
    expect(result.stderr).toMatch(/^enqueued 500\/500 \(100%\)/m);
    expect(result.stderr).toMatch(/^finished 500\/500 \(100%\)/m);
    const { rows } = await ctx.db.pool.query(
      "SELECT status, count(*)::int AS n FROM reproq.task_runs WHERE task_path = 'reproq.noop' AND queue_name = 'stress' GROUP BY status",
    );
    expect(rows).toEqual([{ status: "SUCCESSFUL", n: 500 }]);
  });

  it("prints the enqueue rate without --wait, and times out (exit 1) when no worker serves the queue", async () => {
    const plain = await run(["--dsn", ctx.db.url, "stress-test", "--count", "20", "--queue", "nobody"]);
    expect(plain.code).toBe(0);
    expect(lines(plain.stdout)).toHaveLength(1);
    expect(plain.stdout).toMatch(/^Enqueued 20 runs in [\d.]+s \(\d+ runs\/s\)\n$/);

    const waited = await run([
      "--dsn",
      ctx.db.url,
      "stress-test",
      "--count",
      "5",
      "--queue",
      "nobody",
      "--wait",
      "--timeout",
      "1s",
    ]);
    expect(waited.code).toBe(1);
    expect(lines(waited.stderr).at(-1)).toBe(
      "reproq: 5 of 5 runs still unfinished after 1s; is a worker serving the queue?",
    );
  });

  it("exits 2 for a bad --count or --timeout", async () => {
    const count = await run(["--dsn", ctx.db.url, "stress-test", "--count", "0"]);
    expect(count.code).toBe(2);
    expect(lines(count.stderr)).toEqual([
      'reproq: --count: "0" is not valid; give a whole number of at least 1',
    ]);
    const timeout = await run(["--dsn", ctx.db.url, "stress-test", "--count", "1", "--timeout", "10"]);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/^reproq: --timeout: /);
  });
});

describe("reproq upgrade", () => {
  it("prints the upgrade path", async () => {
    const result = await run(["upgrade"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("\n  npm update reproq && npx reproq migrate\n");
    const json = await run(["--json", "upgrade"]);
    expect(JSON.parse(json.stdout)).toEqual({
      version: expect.any(String),
      steps: ["npm update reproq", "npx reproq migrate"],
    });
  });
});
