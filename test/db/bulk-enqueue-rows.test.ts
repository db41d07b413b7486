/**
 * bulkEnqueue builds the returned runs from what it sent instead of reading every row back: they
 * must be the stored rows, field for field (key order of JSON included), in input order, for any
 * mix of tasks and options; large batches validate everything before writing anything.
 */
import { describe, expect, it } from "vitest";
import {
  getBackend,
  getResult,
  InvalidInputError,
  PayloadError,
  type TaskResult,
  task,
} from "../../src/index.js";
import { useReproq } from "../support/reproq.js";

const ctx = useReproq();

const plain = task("rows.plain", async (..._args: unknown[]) => null);
const tuned = task(
  "rows.tuned",
  {
    queue: "tuned",
    priority: 5,
    maxAttempts: 7,
    timeout: "90s",
    expiresIn: "1h",
    lockKey: (...args: unknown[]) => `lock-${String(args[0])}`,
    concurrency: { key: (...args: unknown[]) => `c-${Number(args[0]) % 3}`, limit: 2 },
  },
  async (..._args: unknown[]) => null,
);

/** Every public field of a result, JSON values serialized so that key order counts. */
function snapshot(r: TaskResult): Record<string, unknown> {
  return {
    id: r.id,
    resultId: r.resultId,
    taskName: r.taskName,
    queue: r.queue,
    priority: r.priority,
    status: r.status,
    isFinished: r.isFinished,
    args: r.args,
    enqueuedAt: r.enqueuedAt.getTime(),
    runAfter: r.runAfter.getTime(),
    startedAt: r.startedAt,
    lastAttemptedAt: r.lastAttemptedAt,
    finishedAt: r.finishedAt,
    expiresAt: r.expiresAt?.getTime() ?? null,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    timeoutSeconds: r.timeoutSeconds,
    lockKey: r.lockKey,
    concurrencyKey: r.concurrencyKey,
    concurrencyLimit: r.concurrencyLimit,
    workerIds: r.workerIds,
    errors: r.errors,
    lastError: r.lastError,
    metadata: JSON.stringify(r.metadata),
    provenance: JSON.stringify(r.provenance),
    spec: JSON.stringify(r.spec),
    specHash: r.specHash,
    workflowId: r.workflowId,
    parentId: r.parentId,
    cancelRequested: r.cancelRequested,
    logsUri: r.logsUri,
    json: JSON.stringify(r.toJSON()),
  };
}

async function expectStored(results: readonly TaskResult[]): Promise<void> {
  for (const result of results) {
    const stored = await getResult(result.id);
    expect(snapshot(result)).toStrictEqual(snapshot(stored));
  }
}

async function count(): Promise<number> {
  const r = await ctx.db.pool.query("SELECT count(*)::int AS n FROM reproq.task_runs");
  return r.rows[0].n;
}

describe("bulkEnqueue results", () => {
  it("are the stored rows, field for field, for a mix of tasks and options", async () => {
    const at = new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 123));
    const shared = { priority: -3, runAfter: "5m" } as const;
    const results = await getBackend().bulkEnqueue([
      [plain, [1, "two", { zz: 1, a: 2, bbb: [3, { y: null, x: true }] }]],
      [tuned, [4]],
      [plain, [new Date(0), new Map([[1, 2]]), 10n, undefined, -0, { é: 1, e: 2, "😀": 3 }]],
      [plain, [5], { runAfter: at, queue: "other", expiresIn: 60_000 }],
      [tuned, [5], { lockKey: "  trimmed  ", concurrencyKey: "", maxAttempts: 1 }],
      [plain, [6], shared],
      [plain, [7], shared],
      [tuned, [8], shared],
    ]);
    expect(results.map((r) => r.args[0])).toEqual([1, 4, new Date(0), 5, 5, 6, 7, 8]);
    expect(results.every((r) => !r.deduplicated)).toBe(true);
    expect(results[3]!.runAfter.getTime()).toBe(at.getTime());
    expect(results[4]!.lockKey).toBe("trimmed");
    expect(results[4]!.concurrencyKey).toBeNull();
    await expectStored(results);
    // The same through a single enqueue and inside the caller's transaction.
    await expectStored([await tuned.enqueue(99)]);
    const client = await ctx.db.pool.connect();
    try {
      await client.query("BEGIN");
      const inTx = await getBackend().bulkEnqueue(
        [
          [plain, ["tx"]],
          [tuned, [100]],
        ],
        { client },
      );
      await client.query("COMMIT");
      await expectStored(inTx);
    } finally {
      client.release();
    }
  });

  it("keeps input order and deduplicates within and across calls in a 10,000-item batch of many shapes", async () => {
    const existing = await plain.enqueue("dup", 0);
    const items = Array.from({ length: 10_000 }, (_, i) => {
      if (i % 1000 === 999) return [plain, ["dup", 0]] as const; // active already
      if (i % 4 === 3) return [plain, ["repeat", i % 40]] as const; // repeated inside the batch
      if (i % 4 === 1) return [tuned, [i]] as const;
      if (i % 4 === 2) return [plain, [i], { priority: i % 7 }] as const;
      return [plain, [i]] as const;
    });
    const before = await count();
    const results = await getBackend().bulkEnqueue(items);
    expect(results).toHaveLength(items.length);
    results.forEach((r, i) => {
      expect(r.taskName).toBe(items[i]![0].name);
      expect(r.args).toEqual(items[i]![1]);
    });
    const dups = results.filter((_, i) => i % 1000 === 999);
    expect(dups.every((r) => r.id === existing.id && r.deduplicated)).toBe(true);
    const firstRepeat = new Map<number, string>();
    results.forEach((r, i) => {
      if (i % 4 !== 3 || i % 1000 === 999) return;
      const key = i % 40;
      const first = firstRepeat.get(key);
      if (first === undefined) {
        firstRepeat.set(key, r.id);
        expect(r.deduplicated).toBe(false);
      } else {
        expect(r.id).toBe(first);
        expect(r.deduplicated).toBe(true);
      }
    });
    const distinct = new Set(results.map((r) => r.id));
    expect(await count()).toBe(before + distinct.size - 1);
    await expectStored([results[0]!, results[1]!, results[2]!, results[3]!, results[9998]!, results[9999]!]);
  });

  it("maps ids correctly when they are not consecutive", async () => {
    await ctx.db.pool.query("ALTER SEQUENCE reproq.task_runs_result_id_seq INCREMENT BY 3");
    try {
      const items = Array.from({ length: 50 }, (_, i) => [plain, ["gap", i]] as const);
      const results = await getBackend().bulkEnqueue(items);
      const ids = results.map((r) => BigInt(r.resultId));
      for (let i = 1; i < ids.length; i++) expect(ids[i]! - ids[i - 1]!).toBe(3n);
      await expectStored(results);
    } finally {
      await ctx.db.pool.query("ALTER SEQUENCE reproq.task_runs_result_id_seq INCREMENT BY 1");
    }
  });

  it("maps every run to its own row when calls overlap and race", async () => {
    const calls = Array.from({ length: 4 }, (_, c) =>
      Array.from({ length: 2000 }, (_, i) => [plain, ["race", i % 2 === 0 ? i : `${c}-${i}`]] as const),
    );
    const before = await count();
    const all = await Promise.all(calls.map((items) => getBackend().bulkEnqueue(items)));
    const idByKey = new Map<string, string>();
    all.forEach((results, c) => {
      results.forEach((r, i) => {
        expect(r.args).toEqual(calls[c]![i]![1]);
        const key = JSON.stringify(r.args);
        const seen = idByKey.get(key);
        if (seen === undefined) idByKey.set(key, r.id);
        else expect(r.id).toBe(seen);
      });
    });
    expect(await count()).toBe(before + idByKey.size);
    expect(all.flat().filter((r) => !r.deduplicated)).toHaveLength(idByKey.size);
    await expectStored(all.map((results) => results[1001]!));
  });

  it("deduplicates two large calls whose shared specs come in opposite orders", async () => {
    // One call waits on the other's uncommitted rows in the dedup index. Inserted in input order,
    // each would wait on the other (a deadlock, an error to one of the callers); in key order, one
    // waits for the other to commit and then finds its runs.
    const specs = Array.from({ length: 6000 }, (_, i) => [plain, ["crossed", i]] as const);
    const before = await count();
    const [up, down] = await Promise.all([
      getBackend().bulkEnqueue(specs),
      getBackend().bulkEnqueue([...specs].reverse()),
    ]);
    expect(await count()).toBe(before + 6000);
    up.forEach((r, i) => {
      expect(r.args).toEqual(["crossed", i]);
      expect(down[5999 - i]!.id).toBe(r.id);
      expect(r.deduplicated === down[5999 - i]!.deduplicated).toBe(false);
    });
  });

  it("writes nothing when the item at index 7,500 of 10,000 is invalid, naming it", async () => {
    const before = await count();
    const items: unknown[][] = Array.from({ length: 10_000 }, (_, i) => [plain, ["bad-batch", i]]);
    items[7500] = [plain, [1], { priority: 101 }];
    await expect(getBackend().bulkEnqueue(items as never)).rejects.toThrow(
      /^item 7500 task "rows\.plain": priority must be an integer from -100 to 100, got 101$/,
    );
    items[7500] = [plain, [() => 1]];
    const error = await getBackend()
      .bulkEnqueue(items as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadError);
    expect((error as Error).message).toMatch(/args\[0\]/);
    items[7500] = [tuned, [1], { lockKey: 5 }];
    await expect(getBackend().bulkEnqueue(items as never)).rejects.toThrow(
      /^item 7500 task "rows\.tuned": lockKey must be a string, got number$/,
    );
    items[7500] = "nope" as never;
    await expect(getBackend().bulkEnqueue(items as never)).rejects.toBeInstanceOf(InvalidInputError);
    expect(await count()).toBe(before);
  });

  it("validates shared options once but still names the first item using them", async () => {
    const bad = { maxAttempts: 0 };
    await expect(
      getBackend().bulkEnqueue([
        [plain, [1]],
        [plain, [2], bad],
        [plain, [3], bad],
      ]),
    ).rejects.toThrow(/^item 1 task "rows\.plain": maxAttempts/);
  });
});
