import pg from "pg";
import { describe, expect, it } from "vitest";
import {
  close,
  configure,
  getBackend,
  getResult,
  InvalidInputError,
  TaskResultNotFoundError,
  task,
} from "../../src/index.js";
import { countRuns } from "../support/db.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();

const add = task("bulk.add", async (a: number, b: number) => a + b);
const label = task("bulk.label", async (s: string) => s.toUpperCase());

const count = (taskPath: string) => countRuns(ctx.db.pool, taskPath);

describe("bulkEnqueue", () => {
  it("inserts items of different tasks in input order", async () => {
    const results = await getBackend().bulkEnqueue([
      [add, [1, 2]],
      [label, ["x"], { priority: 10 }],
      [add, [3, 4], { runAfter: 1000 }],
    ]);
    expect(results.map((r) => r.taskName)).toEqual(["bulk.add", "bulk.label", "bulk.add"]);
    expect(results.map((r) => r.args)).toEqual([[1, 2], ["x"], [3, 4]]);
    expect(results[1]!.priority).toBe(10);
    expect(results[2]!.runAfter.getTime()).toBeGreaterThan(results[0]!.enqueuedAt.getTime() + 500);
  });

  it("handles thousands of rows in one call, deduplicating inside the batch and against existing runs", async () => {
    const existing = await add.enqueue(-1, 5);
    const items = Array.from({ length: 5000 }, (_, i) => [add, [i % 2500, 5]] as const);
    const results = await getBackend().bulkEnqueue(items);
    expect(results).toHaveLength(5000);
    expect(results.map((r) => r.args)).toEqual(items.map(([, args]) => [...args]));
    expect(results[0]!.id).toBe(results[2500]!.id);
    expect(results[2500]!.deduplicated).toBe(true);
    expect(new Set(results.map((r) => r.id)).size).toBe(2500);
    const again = await getBackend().bulkEnqueue([
      [add, [-1, 5]],
      [add, [0, 5]],
    ]);
    expect(again[0]!.id).toBe(existing.id);
    expect(again[1]!.id).toBe(results[0]!.id);
    expect(again.every((r) => r.deduplicated)).toBe(true);
  });

  it("writes nothing when any item is invalid", async () => {
    const before = await count("bulk.label");
    await expect(
      getBackend().bulkEnqueue([
        [label, ["ok"]],
        [label, ["bad"], { priority: 1000 }],
      ]),
    ).rejects.toThrow(/item 1 task "bulk.label": priority/);
    expect(await count("bulk.label")).toBe(before);
    await expect(getBackend().bulkEnqueue([[label]] as never)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("returns an empty list for no items", async () => {
    expect(await getBackend().bulkEnqueue([])).toEqual([]);
  });
});

describe("transactional enqueue", () => {
  async function inTransaction(
    commit: boolean,
    fn: (client: pg.PoolClient) => Promise<string[]>,
  ): Promise<string[]> {
    const client = await ctx.db.pool.connect();
    try {
      await client.query("BEGIN");
      const ids = await fn(client);
      await client.query(commit ? "COMMIT" : "ROLLBACK");
      return ids;
    } finally {
      client.release();
    }
  }

  it("commits runs with the caller's transaction", async () => {
    const ids = await inTransaction(true, async (client) => {
      const one = await label.using({ client }).enqueue("commit-1");
      const many = await getBackend().bulkEnqueue(
        [
          [label, ["commit-2"]],
          [label, ["commit-3"]],
        ],
        { client },
      );
      return [one.id, ...many.map((r) => r.id)];
    });
    for (const id of ids) expect((await getResult(id)).status).toBe("READY");
  });

  it("rolls runs back with the caller's transaction", async () => {
    const ids = await inTransaction(false, async (client) => {
      const one = await label.using({ client }).enqueue("rollback-1");
      const many = await getBackend().bulkEnqueue([[label, ["rollback-2"]]], { client });
      // visible inside the transaction
      const seen = await client.query(
        "SELECT count(*)::int AS n FROM reproq.task_runs WHERE result_id = $1",
        [one.id],
      );
      expect(seen.rows[0].n).toBe(1);
      return [one.id, ...many.map((r) => r.id)];
    });
    for (const id of ids) await expect(getResult(id)).rejects.toBeInstanceOf(TaskResultNotFoundError);
  });
});

describe("configure({ pool })", () => {
  it("uses the application's pool and leaves it open on close()", async () => {
    const appPool = new pg.Pool({ connectionString: ctx.db.url, max: 2 });
    try {
      configure({ pool: appPool });
      const r = await label.enqueue("own-pool");
      expect(await getBackend().pool()).toBe(appPool);
      await close();
      const still = await appPool.query("SELECT status FROM reproq.task_runs WHERE result_id = $1", [r.id]);
      expect(still.rows[0].status).toBe("READY");
    } finally {
      await appPool.end();
      configure({ databaseUrl: ctx.db.url });
    }
  });

  it("emits an enqueued event per result", async () => {
    const seen: string[] = [];
    const backend = getBackend();
    const listener = (r: { id: string }) => seen.push(r.id);
    backend.on("enqueued", listener);
    const r = await label.enqueue("event");
    const d = await label.enqueue("event");
    backend.off("enqueued", listener);
    expect(seen).toEqual([r.id, d.id]);
  });
});
