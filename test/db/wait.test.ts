import { describe, expect, it, vi } from "vitest";
import { createPool } from "../../src/db/pool.js";
import { configure, getBackend, task, WaitTimeoutError } from "../../src/index.js";
import { runMigrations } from "../../src/sql/migrate.js";
import { createTestDatabase, dropTestDatabase } from "../support/db.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";

const ctx = useReproq();
const job = task("wait.job", async (n: number) => n);

async function settle(id: string, status: string): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = $2, finished_at = now(), return_json = CASE WHEN $2 = 'SUCCESSFUL' THEN '7'::jsonb END WHERE result_id = $1`,
    [id, status],
  );
}

/** Watches the setTimeout timers of `ms` armed until restore(): when the first is armed, whether any fired. */
function watchTimers(ms: number) {
  const real = globalThis.setTimeout;
  let armed = () => {};
  const watch = {
    armed: new Promise<void>((resolve) => {
      armed = resolve;
    }),
    fired: false,
    restore: () => spy.mockRestore(),
  };
  const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((
    fn: (...args: unknown[]) => void,
    delay?: number,
    ...args: unknown[]
  ) => {
    if (delay !== ms) return real(fn, delay, ...args);
    armed();
    return real(() => {
      watch.fired = true;
      fn(...args);
    }, delay);
  }) as typeof setTimeout);
  return watch;
}

describe("TaskResult.wait", () => {
  it("is woken by the finish notification, not by the slow re-check", async () => {
    const r = await job.enqueue(1);
    // After its first check the waiter sleeps on its 5 s fallback re-check timer: the run is settled
    // once that timer is armed, and the waiter must be done before the timer ever fires.
    const recheck = watchTimers(5000);
    try {
      const waiting = r.wait({ timeout: 20_000 });
      await recheck.armed;
      await settle(r.id, "SUCCESSFUL");
      await waiting;
    } finally {
      recheck.restore();
    }
    expect(recheck.fired).toBe(false);
    expect(r.status).toBe("SUCCESSFUL");
    expect(r.returnValue).toBe(7);
  });

  it("resolves for every final status and at once for a finished run", async () => {
    for (const status of ["FAILED", "CANCELLED", "EXPIRED"]) {
      const r = await job.enqueue(status.length * 100);
      const waiting = r.wait({ timeout: 10_000 });
      await settle(r.id, status);
      await waiting;
      expect(r.status).toBe(status);
      await r.wait();
    }
  });

  it("rejects with a typed timeout error naming the status", async () => {
    const r = await job.enqueue(2);
    const error = await r.wait({ timeout: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).lastStatus).toBe("READY");
    await expect(r.wait({ timeout: -1 })).rejects.toThrow(/timeout must be/);
  });

  it("many concurrent waiters share one listening connection", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => job.enqueue(1000 + i)));
    const waiting = Promise.all(runs.map((r) => r.wait({ timeout: 15_000 })));
    await ctx.db.pool.query(
      `UPDATE reproq.task_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE result_id = ANY($1::bigint[])`,
      [runs.map((r) => r.id)],
    );
    await waiting;
    const { rows } = await ctx.db.pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'reproq:listener'",
    );
    expect(rows[0].n).toBe(1);
  });
});

describe("schemas", () => {
  it("keeps two installations in one database apart", async () => {
    const other = await createTestDatabase();
    const pool = createPool({ url: other.url, max: 2 });
    try {
      await runMigrations(pool, "tenant_b");
      configure({ databaseUrl: other.url, schema: "tenant_b" });
      const r = await job.enqueue(5);
      const sentinel = await job.enqueue(6);
      const inB = await other.pool.query("SELECT count(*)::int AS n FROM tenant_b.task_runs");
      const inA = await other.pool.query("SELECT count(*)::int AS n FROM reproq.task_runs");
      expect([inA.rows[0].n, inB.rows[0].n]).toEqual([0, 2]);
      // A finish in schema "reproq" must not wake a waiter of schema "tenant_b": past its first
      // check, the waiter must not check again. The sentinel's finish is notified after it, so
      // once the sentinel's waiter is done, the listener has seen the first notification too.
      const checks = vi.spyOn(r, "refresh");
      const sentinelChecks = vi.spyOn(sentinel, "refresh");
      const waiting = r.wait({ timeout: 10_000 });
      const sentinelWaiting = sentinel.wait({ timeout: 10_000 });
      await eventually(
        async () => checks.mock.settledResults.length + sentinelChecks.mock.settledResults.length === 2,
      );
      await other.pool.query(
        `INSERT INTO reproq.task_runs (result_id, spec_json, spec_hash, task_path) VALUES ($1, '{}', repeat('a', 64), 'x')`,
        [r.id],
      );
      await other.pool.query(
        `UPDATE reproq.task_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE result_id = $1`,
        [r.id],
      );
      await other.pool.query(
        `UPDATE tenant_b.task_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE result_id = $1`,
        [sentinel.id],
      );
      await sentinelWaiting;
      expect(checks).toHaveBeenCalledTimes(1);
      await other.pool.query(
        `UPDATE tenant_b.task_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE result_id = $1`,
        [r.id],
      );
      await waiting;
      expect(await getBackend().schema()).toBe("tenant_b");
    } finally {
      configure({ databaseUrl: ctx.db.url });
      await pool.end();
      await dropTestDatabase(other);
    }
  });
});
