/**
 * Prefetch: a worker whose tasks finish fast claims runs ahead of its free slots and keeps
 * them in a local buffer. Buffered runs are RUNNING in the database but have not started;
 * they must never be lost, run twice, or run after a cancel.
 */
import { describe, expect, it } from "vitest";
import { cancel, getBackend, task } from "../../src/index.js";
import type { Worker } from "../../src/worker/worker.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const quick = task("prefetch.quick", async (_n: number) => null);

const startedBlockers: number[] = [];
let unblock: () => void = () => {};
let blocked = new Promise<void>((resolve) => {
  unblock = resolve;
});
const blocker = task("prefetch.blocker", { takesContext: true }, async ({ signal }, n: number) => {
  startedBlockers.push(n);
  await Promise.race([blocked, new Promise((resolve) => signal.addEventListener("abort", resolve))]);
  return n;
});

function resetBlockers(): void {
  startedBlockers.length = 0;
  blocked = new Promise<void>((resolve) => {
    unblock = resolve;
  });
}

/**
 * A burst of quick runs (high priority) teaches the worker its finish rate, so when it reaches
 * the blockers it claims several at once: one starts and blocks the only slot, the rest wait
 * in the buffer. Resolves with the blockers' ids once some are buffered.
 */
async function fillBuffer(): Promise<{ ids: string[]; worker: Worker }> {
  resetBlockers();
  const backend = getBackend();
  await backend.bulkEnqueue(Array.from({ length: 400 }, (_, i) => [quick, [i], { priority: 10 }] as const));
  const results = await backend.bulkEnqueue(Array.from({ length: 20 }, (_, i) => [blocker, [i]] as const));
  const ids = results.map((r) => r.id);
  const worker = await startWorker({ concurrency: 1, prefetch: 500 });
  await eventually(async () => {
    const { rows } = await ctx.db.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM reproq.task_runs WHERE result_id = ANY($1::bigint[]) AND status = 'RUNNING'",
      [ids],
    );
    return startedBlockers.length === 1 && Number(rows[0]!.n) > 1;
  });
  return { ids, worker };
}

describe("prefetch", () => {
  it("hands buffered runs back on shutdown without charging an attempt, and never starts them", async () => {
    const { ids, worker } = await fillBuffer();
    await worker.stop({ timeout: 0 });
    const { rows } = await ctx.db.pool.query<{ status: string; attempts: number }>(
      "SELECT status, attempts FROM reproq.task_runs WHERE result_id = ANY($1::bigint[]) ORDER BY result_id",
      [ids],
    );
    expect(startedBlockers).toHaveLength(1);
    // The started blocker was aborted by the shutdown and released too; nothing kept a lease.
    expect(rows.map((r) => r.status)).toEqual(ids.map(() => "READY"));
    expect(rows.map((r) => r.attempts)).toEqual(ids.map(() => 0));
  });

  it("ends a buffered run CANCELLED without running it when it is cancelled", async () => {
    const { ids } = await fillBuffer();
    const { rows } = await ctx.db.pool.query<{ result_id: string }>(
      `SELECT result_id FROM reproq.task_runs
        WHERE result_id = ANY($1::bigint[]) AND status = 'RUNNING' ORDER BY result_id DESC LIMIT 1`,
      [ids],
    );
    const buffered = rows[0]!.result_id;
    const running = ids[startedBlockers[0]!]!;
    expect(buffered).not.toBe(running);
    await cancel(buffered);
    const result = await getBackend().getResult(buffered);
    await result.wait({ timeout: 10_000 });
    expect(result.status).toBe("CANCELLED");
    unblock();
    await eventually(async () => {
      const { rows: left } = await ctx.db.pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM reproq.task_runs WHERE result_id = ANY($1::bigint[]) AND status <> 'SUCCESSFUL'",
        [ids],
      );
      return Number(left[0]!.n) === 1;
    });
    // Every other blocker ran exactly once; the cancelled one never started.
    expect(startedBlockers).toHaveLength(ids.length - 1);
    expect(new Set(startedBlockers).size).toBe(ids.length - 1);
    expect(startedBlockers).not.toContain(ids.indexOf(buffered));
  });

  it("with prefetch 0 claims only for free slots", async () => {
    resetBlockers();
    const results = await getBackend().bulkEnqueue(
      Array.from({ length: 5 }, (_, i) => [blocker, [i]] as const),
    );
    await startWorker({ concurrency: 2, prefetch: 0 });
    await eventually(async () => startedBlockers.length === 2);
    const { rows } = await ctx.db.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM reproq.task_runs WHERE result_id = ANY($1::bigint[]) AND status = 'RUNNING'",
      [results.map((r) => r.id)],
    );
    expect(Number(rows[0]!.n)).toBe(2);
    unblock();
    for (const r of results) await r.wait({ timeout: 10_000 });
  });
});
