import { describe, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.js";
import { configure, getBackend, task, WaitTimeoutError } from "../../src/index.js";
import { runMigrations } from "../../src/sql/migrate.js";
import { createTestDatabase, dropTestDatabase } from "../support/db.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();
const job = task("wait.job", async (n: number) => n);

async function settle(id: string, status: string): Promise<void> {
  await ctx.db.pool.query(
    `UPDATE reproq.task_runs SET status = $2, finished_at = now(), return_json = CASE WHEN $2 = 'SUCCESSFUL' THEN '7'::jsonb END WHERE result_id = $1`,
    [id, status],
  );
}

describe("TaskResult.wait", () => {
  it("is woken by the finish notification, not by the slow re-check", async () => {
    const r = await job.enqueue(1);
    const started = Date.now();
    const waiting = r.wait({ timeout: 20_000 });
    setTimeout(() => void settle(r.id, "SUCCESSFUL"), 200);
    await waiting;
    // The fallback re-check runs every 5 s; finishing well before it proves NOTIFY woke the waiter.
    expect(Date.now() - started).toBeLessThan(4000);
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
      const inB = await other.pool.query("SELECT count(*)::int AS n FROM tenant_b.task_runs");
      const inA = await other.pool.query("SELECT count(*)::int AS n FROM reproq.task_runs");
      expect([inA.rows[0].n, inB.rows[0].n]).toEqual([0, 1]);
      // A finish in schema "reproq" must not wake a waiter of schema "tenant_b".
      const waiting = r.wait({ timeout: 10_000 });
      let done = false;
      void waiting.then(() => {
        done = true;
      });
      await other.pool.query(
        `INSERT INTO reproq.task_runs (result_id, spec_json, spec_hash, task_path) VALUES ($1, '{}', repeat('a', 64), 'x')`,
        [r.id],
      );
      await other.pool.query(
        `UPDATE reproq.task_runs SET status = 'SUCCESSFUL', finished_at = now() WHERE result_id = $1`,
        [r.id],
      );
      await new Promise((res) => setTimeout(res, 300));
      expect(done).toBe(false);
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
