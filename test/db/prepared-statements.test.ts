/**
 * preparedStatements: false (for poolers that cannot keep named statements across transactions,
 * such as PgBouncer before 1.21 in transaction mode): enqueue, claim and settle leave no prepared
 * statement on the connection, and everything still works.
 */
import { describe, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.js";
import { getBackend, task } from "../../src/index.js";
import { settleRuns } from "../../src/sql/worker.js";
import { claimDefault, successes } from "../support/hot-path.js";
import { useReproq } from "../support/reproq.js";
import { startWorker } from "../support/worker.js";

// One connection, so the statements of every call below meet on it.
const ctx = useReproq({ preparedStatements: false, poolSize: 1 });
const echo = task("prepared.echo", async (n: number) => n);

const PREPARED = "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'reproq_%'";

describe("preparedStatements: false", () => {
  it("enqueues with unnamed statements", async () => {
    await echo.enqueue(1);
    await echo.enqueue(2);
    const pool = await getBackend().pool();
    const { rows } = await pool.query<{ n: number }>(PREPARED);
    expect(rows[0]!.n).toBe(0);
  });

  it("enqueues unnamed on a client of the application's own pool too", async () => {
    const pool = createPool({ url: ctx.db.url, max: 1 });
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await echo.using({ client }).enqueue(3);
      await getBackend().bulkEnqueue(
        [
          [echo, [4]],
          [echo, [5]],
        ],
        { client },
      );
      await client.query("COMMIT");
      const { rows } = await client.query<{ n: number }>(PREPARED);
      expect(rows[0]!.n).toBe(0);
    } finally {
      client.release();
      await pool.end();
    }
  });

  it("claims and settles with unnamed statements on a pool that has them off, named otherwise", async () => {
    await getBackend().bulkEnqueue(Array.from({ length: 20 }, (_, i) => [echo, [100 + i]] as const));
    for (const preparedStatements of [false, true]) {
      const pool = createPool({ url: ctx.db.url, max: 1, preparedStatements });
      const client = await pool.connect();
      try {
        const runs = await claimDefault(client, "p", 5);
        expect(runs).toHaveLength(5);
        const held = await settleRuns(client, "reproq", successes(runs));
        expect(held.size).toBe(5);
        const { rows } = await client.query<{ n: number }>(PREPARED);
        expect(rows[0]!.n).toBe(preparedStatements ? 2 : 0);
      } finally {
        client.release();
        await pool.end();
      }
    }
  });

  it("runs a worker end to end", async () => {
    await startWorker({ preparedStatements: false });
    const r = await echo.enqueue(42);
    await r.wait({ timeout: 10_000 });
    expect([r.status, r.returnValue]).toEqual(["SUCCESSFUL", 42]);
  });
});
