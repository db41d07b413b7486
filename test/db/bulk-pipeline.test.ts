/**
 * Large bulk calls without dedup keys are inserted in chunks, each prepared while the previous one
 * is written, in one transaction: the caller must not be able to tell, except by the time taken.
 */
import { describe, expect, it } from "vitest";
import { getBackend, task } from "../../src/index.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq({ dedupActive: false });
const step = task("pipeline.step", async (..._args: unknown[]) => null);

async function count(): Promise<number> {
  const { rows } = await ctx.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM reproq.task_runs");
  return rows[0]!.n;
}

describe("bulkEnqueue in chunks (dedupActive off)", () => {
  it("keeps input order, ids included, across chunks, and keeps duplicates", async () => {
    const items = Array.from({ length: 12_000 }, (_, i) => [step, [i % 6000]] as const);
    const before = await count();
    const results = await getBackend().bulkEnqueue(items);
    expect(await count()).toBe(before + 12_000);
    results.forEach((r, i) => {
      expect(r.args).toEqual([i % 6000]);
      expect(r.deduplicated).toBe(false);
    });
    // Ids follow input order, so runs of one call start in the order they were given.
    const ids = results.map((r) => BigInt(r.resultId));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    const { rows } = await ctx.db.pool.query<{ args: unknown[] }>(
      "SELECT spec_json -> 'args' AS args FROM reproq.task_runs WHERE result_id = ANY($1::bigint[]) ORDER BY result_id",
      [[results[0]!.id, results[5999]!.id, results[6000]!.id, results[11_999]!.id]],
    );
    expect(rows.map((r) => r.args)).toEqual([[0], [5999], [0], [5999]]);
  });

  it("writes nothing when an item of a later chunk is invalid, naming it", async () => {
    const before = await count();
    const items: unknown[][] = Array.from({ length: 12_000 }, (_, i) => [step, [i]]);
    items[9000] = [step, [1], { priority: 500 }];
    await expect(getBackend().bulkEnqueue(items as never)).rejects.toThrow(
      /^item 9000 task "pipeline\.step": priority must be an integer from -100 to 100, got 500$/,
    );
    expect(await count()).toBe(before);
  });
});
