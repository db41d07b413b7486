/** close() is final for the backends it closed; configure() afterwards gives a working new one. */
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, close, configure, getBackend, getResult, task } from "../../src/index.js";
import { useTestDatabase } from "../support/db.js";

const ctx = useTestDatabase();
const echo = task("close.echo", async (value: string) => value);

afterAll(async () => {
  await close();
});

describe("close()", () => {
  it("refuses an enqueue after close() instead of reconnecting, until configure()", async () => {
    configure({ databaseUrl: ctx.db.url });
    const before = await echo.enqueue("before");
    const closed = getBackend();
    await close();

    const error = await echo.enqueue("after").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toBe(
      'backend "default" was used after close(); close() is final, so call configure() first to open a new backend',
    );
    await expect(getResult(before.id)).rejects.toThrow("used after close()");
    expect(getBackend()).toBe(closed);
    const rows = await ctx.db.pool.query("SELECT count(*)::int AS n FROM reproq.task_runs");
    expect(rows.rows[0].n).toBe(1);

    configure({ databaseUrl: ctx.db.url });
    expect(getBackend()).not.toBe(closed);
    const again = await echo.enqueue("again");
    expect((await getResult(again.id)).args).toEqual(["again"]);
  });
});
