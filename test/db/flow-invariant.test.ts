/**
 * The flow-control invariant under real contention: 4 worker processes x concurrency 20
 * claim in batches from 2,000 runs spread over 50 concurrency keys (limits 1 to 3) and 20
 * lock keys. Every run records its own start and end; no key may ever exceed its limit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../support/db.js";
import { maxOverlap, type Span } from "../support/spans.js";
import { eventually } from "../support/wait.js";

const ctx = useTestDatabase();
const reproq = await import("../../dist/index.js");
const { work } = await import("../fixtures/flow-tasks.mjs");
const workers: ChildProcess[] = [];

beforeAll(() => reproq.configure({ databaseUrl: ctx.db.url }));
afterAll(async () => {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null) return resolve();
          w.once("exit", () => resolve());
          w.kill("SIGTERM");
        }),
    ),
  );
  await reproq.close();
});

interface KeySpan extends Span {
  key: string;
  limit: number;
}

describe("flow control across worker processes", () => {
  it("never lets a concurrency or lock key exceed its limit (4 workers x 20, 2,000 runs)", async () => {
    const items = Array.from({ length: 2000 }, (_, i) => {
      const key = i % 50;
      const limit = (key % 3) + 1;
      const options =
        i % 3 === 0
          ? { lockKey: `lock-${i % 20}` }
          : { concurrencyKey: `key-${key}`, concurrencyLimit: limit };
      return [work, [5 + (i % 7), i], { ...options, queue: "inv" }] as const;
    });
    await reproq.getBackend().bulkEnqueue(items);
    for (let i = 0; i < 4; i++) {
      const child = spawn(
        process.execPath,
        [
          "dist/cli/main.js",
          "worker",
          "--tasks",
          "test/fixtures/flow-tasks.mjs",
          "--queues",
          "inv",
          "--concurrency",
          "20",
        ],
        { env: { ...process.env, DATABASE_URL: ctx.db.url }, stdio: "ignore" },
      );
      workers.push(child);
    }
    await eventually(async () => {
      const { rows } = await ctx.db.pool.query(
        "SELECT count(*)::int AS n FROM reproq.task_runs WHERE queue_name = 'inv' AND status = 'SUCCESSFUL'",
      );
      return rows[0].n === 2000;
    }, 120_000);

    const { rows } = await ctx.db.pool.query<{
      lock_key: string | null;
      concurrency_key: string | null;
      concurrency_limit: number;
      return_json: { start: number; end: number };
      worker_ids: string[];
    }>(
      "SELECT lock_key, concurrency_key, concurrency_limit, return_json, worker_ids FROM reproq.task_runs WHERE queue_name = 'inv'",
    );
    expect(rows).toHaveLength(2000);
    expect(new Set(rows.flatMap((r) => r.worker_ids)).size).toBe(4);

    const byKey = new Map<string, KeySpan[]>();
    for (const r of rows) {
      const key = r.lock_key ? `lock:${r.lock_key}` : `conc:${r.concurrency_key}`;
      const limit = r.lock_key ? 1 : r.concurrency_limit;
      const list = byKey.get(key) ?? [];
      list.push({ key, limit, ...r.return_json });
      byKey.set(key, list);
    }
    expect(byKey.size).toBe(70);
    const violations: string[] = [];
    let saturatedSomewhere = false;
    for (const [key, spans] of byKey) {
      const peak = maxOverlap(spans);
      if (peak > spans[0]!.limit) violations.push(`${key}: ${peak} at once, limit ${spans[0]!.limit}`);
      if (spans[0]!.limit > 1 && peak === spans[0]!.limit) saturatedSomewhere = true;
    }
    expect(violations).toEqual([]);
    // The limits were really exercised, not trivially met by running one at a time.
    expect(saturatedSomewhere).toBe(true);
    const { rows: slots } = await ctx.db.pool.query(
      "SELECT count(*)::int AS n FROM reproq.concurrency_slots WHERE running <> 0",
    );
    expect(slots[0].n).toBe(0);
  }, 180_000);
});
