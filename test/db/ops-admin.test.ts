/**
 * Operator functions the CLI, the HTTP API and the dashboard share, called directly with a pool:
 * the migration check and apply reports, pruning stale workers, a one-off scheduler tick,
 * pg_cron where it is missing and the stress test's enqueue phase. Real PostgreSQL, one empty database for the file.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { createPool } from "../../src/db/pool.js";
import { ConfigError } from "../../src/errors.js";
import { applyMigrations, checkMigrations } from "../../src/ops/migrate.js";
import { managePgCron } from "../../src/ops/pg-cron.js";
import { prepareScheduler, tickSchedulesOnce } from "../../src/ops/schedule.js";
import { runStressTest } from "../../src/ops/stress.js";
import { pruneStaleWorkers } from "../../src/ops/workers.js";
import { tryLeadership } from "../../src/scheduler/beat.js";
import { PgCronMissingError } from "../../src/scheduler/pg-cron.js";
import { LATEST_SCHEMA_VERSION } from "../../src/sql/migrations/index.js";
import { useTestDatabase } from "../support/db.js";

const ctx = useTestDatabase({ empty: true });

describe("checkMigrations and applyMigrations", () => {
  it("names the pending migrations as the problem, then applies them and reports none", async () => {
    const before = await checkMigrations(ctx.db.pool, "ops_a");
    expect(before.report).toMatchObject({
      schema: "ops_a",
      current: 0,
      latest: LATEST_SCHEMA_VERSION,
      newer: false,
    });
    expect(before.report.pending).toHaveLength(LATEST_SCHEMA_VERSION);
    expect(before.problem).toMatch(
      /^schema "ops_a" is at version 0, this package needs \d+; pending migrations: 1 \(/,
    );

    const pool = createPool({ url: ctx.db.url, max: 2 });
    try {
      const applied = await applyMigrations(pool, "ops_a");
      expect(applied).toMatchObject({
        schema: "ops_a",
        current: LATEST_SCHEMA_VERSION,
        pending: [],
        newer: false,
      });
      expect(applied.applied?.map((m) => m.version)).toEqual(before.report.pending.map((m) => m.version));
      expect((await applyMigrations(pool, "ops_a")).applied).toEqual([]);
    } finally {
      await pool.end();
    }

    const after = await checkMigrations(ctx.db.pool, "ops_a");
    expect(after.problem).toBeUndefined();
    expect(after.report).toEqual({
      schema: "ops_a",
      current: LATEST_SCHEMA_VERSION,
      latest: LATEST_SCHEMA_VERSION,
      pending: [],
      newer: false,
    });
  });

  it("says to upgrade the package when the database is newer", async () => {
    await ctx.db.pool.query(
      "INSERT INTO ops_a.schema_migrations (version, name, package_version) VALUES (9999, 'future', '99.0.0')",
    );
    const check = await checkMigrations(ctx.db.pool, "ops_a");
    expect(check.report.newer).toBe(true);
    expect(check.problem).toContain("newer than this package supports");
    await ctx.db.pool.query("DELETE FROM ops_a.schema_migrations WHERE version = 9999");
  });
});

describe("pruneStaleWorkers", () => {
  it("returns the age it used and the sorted ids it removed, leaving fresh workers", async () => {
    await ctx.db.pool.query(
      `INSERT INTO ops_a.workers (worker_id, hostname, version, concurrency, last_seen_at) VALUES
         ('old-b', 'h', 'v', 1, now() - interval '2 hours'),
         ('old-a', 'h', 'v', 1, now() - interval '3 hours'),
         ('fresh', 'h', 'v', 1, now())`,
    );
    expect(await pruneStaleWorkers(ctx.db.pool, "ops_a", 3_600_000)).toEqual({
      olderThanMs: 3_600_000,
      removed: ["old-a", "old-b"],
    });
    const left = await ctx.db.pool.query("SELECT worker_id FROM ops_a.workers");
    expect(left.rows).toEqual([{ worker_id: "fresh" }]);
  });
});

describe("the scheduler and pg_cron as data", () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = createPool({ url: ctx.db.url, max: 3 });
    await applyMigrations(pool, "ops_b");
  });
  afterAll(async () => {
    await pool.end();
  });

  it("prepareScheduler refuses schedulerMode pg_cron, naming how to get out of it", async () => {
    const config = await loadConfig({ env: { REPROQ_SCHEDULER_MODE: "pg_cron" } });
    const error = await prepareScheduler(config.values, process.cwd()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("unset REPROQ_SCHEDULER_MODE or use reproq pg-cron");
  });

  it("a tick reports leader false and does nothing while another scheduler leads", async () => {
    const leader = await pool.connect();
    try {
      expect(await tryLeadership(leader, "ops_b")).toBe(true);
      expect(await tickSchedulesOnce(pool, "ops_b", {})).toEqual({
        schema: "ops_b",
        leader: false,
        schedules: [],
      });
    } finally {
      // Unlocked here, not by closing the session: a closed session's lock outlives the close for a moment.
      await leader.query("SELECT pg_advisory_unlock_all()");
      leader.release();
    }
    const report = await tickSchedulesOnce(pool, "ops_b", {});
    expect(report).toMatchObject({ schema: "ops_b", leader: true, schedules: [] });
    expect(report.at).toBeInstanceOf(Date);
  });

  it("pg_cron missing is an answer with ifSupported and a PgCronMissingError without", async () => {
    const answer = await managePgCron(pool, "ops_b", {
      action: "dry-run",
      prefix: "reproq:",
      ifSupported: true,
    });
    expect(answer).toMatchObject({ action: "none", supported: false });
    expect((answer as { reason: string }).reason).toMatch(/^pg_cron is not installed in this database/);
    await expect(managePgCron(pool, "ops_b", { action: "remove", prefix: "reproq:" })).rejects.toBeInstanceOf(
      PgCronMissingError,
    );
  });
});

describe("runStressTest", () => {
  it("enqueues distinct no-op runs in batches, reporting each phase's progress and the rate", async () => {
    const pool = createPool({ url: ctx.db.url, max: 4 });
    const seen: Array<{ phase: string; total: number; done: number[]; finished: boolean }> = [];
    try {
      const report = await runStressTest(pool, {
        schema: "ops_a",
        databaseUrl: ctx.db.url,
        count: 25,
        batch: 10,
        queue: "stress_ops",
        wait: false,
        timeoutMs: 60_000,
        progress: (phase, total) => {
          const entry = { phase, total, done: [] as number[], finished: false };
          seen.push(entry);
          return { update: (done) => entry.done.push(done), finish: () => (entry.finished = true) };
        },
      });
      expect(report.count).toBe(25);
      expect(report.enqueueRate).toBeGreaterThan(0);
      expect(report.drainSeconds).toBeUndefined();
    } finally {
      await pool.end();
    }
    expect(seen).toEqual([{ phase: "enqueued", total: 25, done: [10, 20, 25], finished: true }]);
    const { rows } = await ctx.db.pool.query(
      "SELECT count(DISTINCT spec_hash)::int AS n FROM ops_a.task_runs WHERE queue_name = 'stress_ops'",
    );
    expect(rows[0].n).toBe(25);
  });
});
