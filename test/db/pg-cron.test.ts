/**
 * pg_cron mode and the SQL producers. These tests start their own PostgreSQL 15 cluster with
 * shared_preload_libraries=pg_cron (Debian's binaries and the postgresql-15-cron package), check
 * the jobs `reproq pg-cron --install` creates in cron.job, and call the SQL function directly
 * rather than waiting for a minute tick. Without those binaries they are skipped, saying why.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSpec, specHash } from "../../src/codec/spec.js";
import { task } from "../../src/index.js";
import { upsertScheduleIn } from "../../src/scheduler/schedules.js";
import { runMigrations } from "../../src/sql/migrate.js";
import { runCli } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";

const BIN_DIR = "/usr/lib/postgresql/15/bin";
const PG_CRON_LIB = "/usr/lib/postgresql/15/lib/pg_cron.so";
const DB = "reproq_cron";

const missing = [`${BIN_DIR}/initdb`, `${BIN_DIR}/pg_ctl`, PG_CRON_LIB].filter((f) => !existsSync(f));
const skipReason =
  missing.length > 0
    ? `PostgreSQL 15 with pg_cron is not installed (missing ${missing.join(", ")}); install postgresql-15-cron`
    : undefined;
if (skipReason) console.warn(`pg-cron tests skipped: ${skipReason}`);

interface Vector {
  name: string;
  spec: Record<string, unknown>;
  canonical: string;
  sha256: string;
}
const VECTORS = JSON.parse(
  readFileSync(new URL("../vectors/spec-hash.json", import.meta.url), "utf8"),
) as Vector[];

const CONFIG = {
  defaultQueue: "default",
  maxAttempts: 3,
  timeoutSeconds: 900,
  dedupActive: true,
  maxPayloadBytes: 1_048_576,
};

const nightly = task("cron.nightly", async (region: string, n: number) => `${region}:${n}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Runs a PostgreSQL binary, as the postgres user when we are root (initdb refuses root). */
function pgBin(name: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot
    ? ["runuser", ["-u", "postgres", "--", `${BIN_DIR}/${name}`, ...args]]
    : [`${BIN_DIR}/${name}`, args];
  execFileSync(cmd, argv, { stdio: "pipe" });
}

describe.skipIf(skipReason !== undefined)("pg_cron", () => {
  let dir: string;
  let url: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "reproq-pgcron-"));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
      chownSync(dir, uid, gid);
    }
    const data = path.join(dir, "data");
    const port = await freePort();
    pgBin("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"]);
    pgBin("pg_ctl", [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_cron -c cron.database_name=${DB}`,
      "-w",
      "start",
    ]);
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.end();
    url = `postgres://postgres@127.0.0.1:${port}/${DB}`;
    pool = new pg.Pool({ connectionString: url, max: 4 });
    await pool.query("CREATE EXTENSION pg_cron");
    await runMigrations(pool, "reproq");
  }, 60_000);

  afterAll(async () => {
    await pool?.end().catch(() => {});
    if (dir) {
      try {
        pgBin("pg_ctl", ["-D", path.join(dir, "data"), "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped; the directory is removed either way.
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  const reproq = (args: string[], env: Record<string, string> = {}) =>
    runCli(["--dsn", url, ...args], { cwd: dir, env });

  it("hashes the spec-hash vectors' canonical strings in PostgreSQL exactly as TypeScript does", async () => {
    for (const v of VECTORS) {
      const { rows } = await pool.query("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS h", [
        v.canonical,
      ]);
      expect(rows[0].h, v.name).toBe(v.sha256);
    }
  });

  it("canonical_json() matches RFC 8785 for the vectors it supports and refuses the rest", async () => {
    const supported: string[] = [];
    for (const v of VECTORS) {
      const outcome = await pool
        .query("SELECT reproq.canonical_json($1::jsonb) AS c", [JSON.stringify(v.spec)])
        .then((r) => ({ canonical: r.rows[0].c as string }))
        .catch((error: Error) => ({ refused: error.message }));
      if ("refused" in outcome) {
        expect(outcome.refused, v.name).toMatch(/^reproq: (.* not an integer|tagged values)/);
      } else {
        expect(outcome.canonical, v.name).toBe(v.canonical);
        supported.push(v.name);
      }
    }
    expect(supported).toEqual(expect.arrayContaining(["minimal", "all-fields", "unicode"]));
  });

  it("enqueue_schedule() enqueues from the stored spec: spec_hash matches the TypeScript producer", async () => {
    await upsertScheduleIn(pool, "reproq", CONFIG, {
      name: "sql.nightly",
      cron: "0 2 * * *",
      task: nightly,
      args: ["eu", 7],
    });
    const expected = specHash(buildSpec({ taskPath: "cron.nightly", args: ["eu", 7] })).hash;
    const { rows } = await pool.query("SELECT reproq.enqueue_schedule('sql.nightly') AS id");
    const id = rows[0].id as string;
    const run = (await pool.query("SELECT * FROM reproq.task_runs WHERE result_id = $1", [id])).rows[0];
    expect(run.spec_hash).toBe(expected);
    expect(run.dedup_key).toBe(expected);
    expect(run.provenance_json).toMatchObject({ schedule: "sql.nightly", producer: "sql" });
    expect(run.provenance_json.scheduled_for).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const schedule = (await pool.query("SELECT * FROM reproq.periodic_tasks WHERE name = 'sql.nightly'"))
      .rows[0];
    expect(schedule.spec_hash).toBe(expected);
    expect(schedule.last_run_at).not.toBeNull();
    // A second call while the run is still active is deduplicated to it.
    const again = await pool.query("SELECT reproq.enqueue_schedule('sql.nightly') AS id");
    expect(again.rows[0].id).toBe(id);
    await expect(pool.query("SELECT reproq.enqueue_schedule('sql.none')")).rejects.toThrow(
      /no schedule named "sql.none"/,
    );
  });

  it("enqueue() computes the same canonical spec in SQL for plain JSON args, and refuses what it cannot", async () => {
    const args = [1, "a", { b: true, a: null, é: [2, -3] }];
    const { rows } = await pool.query("SELECT reproq.enqueue('cron.plain', $1::jsonb, 'q1', 5) AS id", [
      JSON.stringify(args),
    ]);
    const run = (await pool.query("SELECT * FROM reproq.task_runs WHERE result_id = $1", [rows[0].id]))
      .rows[0];
    const expected = specHash(buildSpec({ taskPath: "cron.plain", args, queueName: "q1", priority: 5 }));
    expect(run.spec_hash).toBe(expected.hash);
    expect(run).toMatchObject({ queue_name: "q1", priority: 5, task_path: "cron.plain", status: "READY" });
    await expect(pool.query(`SELECT reproq.enqueue('cron.plain', '[1.5]')`)).rejects.toThrow(
      /not an integer/,
    );
    await expect(pool.query(`SELECT reproq.enqueue('cron.plain', '{"a":1}')`)).rejects.toThrow(/JSON array/);
  });

  it("pg-cron --dry-run, --install and --remove manage one job per enabled schedule", async () => {
    await upsertScheduleIn(pool, "reproq", CONFIG, {
      name: "sql.hourly",
      cron: "15 * * * *",
      task: nightly,
      args: ["us", 1],
    });
    await upsertScheduleIn(pool, "reproq", CONFIG, {
      name: "sql.off",
      cron: "15 * * * *",
      task: nightly,
      args: ["off", 1],
      enabled: false,
    });
    const jobs = async () =>
      (await pool.query("SELECT jobname, schedule, command FROM cron.job ORDER BY jobname")).rows;

    let result = await reproq(["pg-cron", "--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Would schedule pg_cron job reproq:sql.hourly "15 * * * *"');
    expect(await jobs()).toEqual([]);
    result = await reproq(["pg-cron", "--install", "--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Would schedule pg_cron job reproq:sql.hourly "15 * * * *"');
    expect(await jobs()).toEqual([]);

    result = await reproq(["pg-cron", "--install"], { REPROQ_SCHEDULER_MODE: "pg_cron" });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(await jobs()).toEqual([
      {
        jobname: "reproq:sql.hourly",
        schedule: "15 * * * *",
        command: `SELECT "reproq".enqueue_schedule('sql.hourly')`,
      },
      {
        jobname: "reproq:sql.nightly",
        schedule: "0 2 * * *",
        command: `SELECT "reproq".enqueue_schedule('sql.nightly')`,
      },
    ]);

    // Running a job's command is what pg_cron does at the tick.
    const before = (await pool.query("SELECT count(*)::int AS n FROM reproq.task_runs")).rows[0].n;
    const command = (await jobs()).find((j) => j.jobname === "reproq:sql.hourly")!.command as string;
    await pool.query(command);
    expect((await pool.query("SELECT count(*)::int AS n FROM reproq.task_runs")).rows[0].n).toBe(before + 1);

    // Disabling a schedule removes its job on the next install.
    await pool.query("UPDATE reproq.periodic_tasks SET enabled = false WHERE name = 'sql.hourly'");
    result = await reproq(["--json", "pg-cron", "--install"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ action: "install", remove: ["reproq:sql.hourly"] });
    expect(result.stderr).toMatch(/note: schedulerMode is "beat"/);
    expect((await jobs()).map((j) => j.jobname)).toEqual(["reproq:sql.nightly"]);

    result = await reproq(["pg-cron", "--remove", "--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Would remove pg_cron job reproq:sql.nightly");
    expect((await jobs()).map((j) => j.jobname)).toEqual(["reproq:sql.nightly"]);

    result = await reproq(["pg-cron", "--remove"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Removed pg_cron job reproq:sql.nightly");
    expect(await jobs()).toEqual([]);
  });

  it("refuses timezones other than UTC and seconds fields before changing anything", async () => {
    await upsertScheduleIn(pool, "reproq", CONFIG, {
      name: "sql.berlin",
      cron: "0 9 * * *",
      timezone: "Europe/Berlin",
      task: nightly,
      args: ["de", 1],
    });
    await upsertScheduleIn(pool, "reproq", CONFIG, {
      name: "sql.seconds",
      cron: "*/10 * * * * *",
      task: nightly,
      args: ["s", 1],
    });
    const result = await reproq(["pg-cron", "--install"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^reproq: schedule "sql.berlin" uses timezone Europe\/Berlin; pg_cron schedules in UTC only/,
    );
    expect(result.stderr).toContain('schedule "sql.seconds" has a seconds field');
    expect((await pool.query("SELECT count(*)::int AS n FROM cron.job")).rows[0].n).toBe(0);
    const usage = await reproq(["pg-cron"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/exactly one of --install, --remove or --dry-run/);
  });
});

describe("pg-cron without pg_cron", () => {
  const ctx = useTestDatabase();

  it("--if-supported exits 0 with a message in every mode; without it the missing extension is an error", async () => {
    const modes = [
      ["--install"],
      ["--remove"],
      ["--dry-run"],
      ["--install", "--dry-run"],
      ["--remove", "--dry-run"],
    ];
    for (const mode of modes) {
      const supported = await runCli(["--dsn", ctx.db.url, "pg-cron", ...mode, "--if-supported"], {
        cwd: tmpdir(),
      });
      expect({ mode, code: supported.code }).toEqual({ mode, code: 0 });
      expect(supported.stdout).toMatch(/^pg_cron is not available in this database; nothing to do/);
    }
    let result = await runCli(["--dsn", ctx.db.url, "pg-cron", "--remove", "--dry-run"], { cwd: tmpdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: pg_cron is not installed in this database/);
    result = await runCli(["--dsn", ctx.db.url, "pg-cron", "--install"], { cwd: tmpdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^reproq: pg_cron is not installed in this database/);
  });
});
