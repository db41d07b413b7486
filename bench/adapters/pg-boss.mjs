// pg-boss's adapter for bench/runner/compare.mjs.
import { performance } from "node:perf_hooks";
import { sleep } from "../runner/lib.mjs";
import { probeLoop } from "./probe.mjs";

/** Worker settings per variant, as printed in the report. */
export const VARIANTS = {
  default:
    "useListenNotify, queues created with notify: true; work() with batchSize 500, burstWhenBatchFull, localConcurrency 2 at concurrency 10 and 5 at 100 (each fetch loop runs its batch's handlers together), pollingIntervalSeconds 0.5; pool max 10",
};

/**
 * pg-boss's high-throughput worker: big batches, no pause between fetches while they come back full,
 * and NOTIFY wake-ups when idle. A 500-job batch already keeps plenty of handlers busy, so
 * "concurrency" picks the number of fetch loops: 2 at concurrency 10 and 5 at 100, the fastest of
 * 1, 2, 5 and 10 loops in trial drains on the 2-core bench box (they share pg-boss's pool of 10).
 */
function pgbossWorkOptions(concurrency) {
  return {
    batchSize: 500,
    burstWhenBatchFull: true,
    localConcurrency: Math.min(5, Math.max(2, Math.round(concurrency / 20))),
    pollingIntervalSeconds: 0.5,
  };
}

/**
 * @param {string} databaseUrl
 * @param {{ sql: import("pg").Client, count: (q: string) => Promise<number> }} db
 */
export async function open(databaseUrl, { sql, count }) {
  let seq = 0;
  const { PgBoss } = await import("pg-boss");
  // LISTEN/NOTIFY needs both the instance option and `notify` on each queue; without them a worker
  // only fetches once per polling interval.
  const boss = new PgBoss({ connectionString: databaseUrl, useListenNotify: true });
  boss.on("error", (e) => console.error("pg-boss:", e.message));
  await boss.start();
  await boss.createQueue("noop", { notify: true });
  await boss.createQueue("ping", { notify: true });
  const table = "pgboss.job";
  return {
    sql,
    table,
    enqueueOne: () => boss.send("noop", { i: seq++ }),
    bulk: (n) =>
      boss.insert(
        "noop",
        Array.from({ length: n }, () => ({ data: { i: seq++ } })),
      ),
    pending: () =>
      count(`SELECT count(*)::int AS n FROM ${table} WHERE name = 'noop' AND state <> 'completed'`),
    reset: () => sql.query(`TRUNCATE ${table}`),
    analyze: () => sql.query(`VACUUM (ANALYZE) ${table}`),
    async startWorker({ concurrency, onDone }) {
      await boss.work("noop", pgbossWorkOptions(concurrency), async (jobs) => {
        await Promise.all(jobs.map(async () => null));
        onDone(jobs.length);
      });
      return { stop: () => boss.offWork("noop") };
    },
    async probe(samples, budgetMs) {
      let hook = () => {};
      await boss.work("ping", pgbossWorkOptions(10), async () => hook(performance.now()));
      await sleep(500);
      try {
        return await probeLoop(samples, budgetMs, async (i) => {
          const start = new Promise((resolve) => {
            hook = resolve;
          });
          const t0 = performance.now();
          await boss.send("ping", { i });
          const t1 = await start;
          // Completion is written after the handler returns, without being awaited by pg-boss.
          await sleep(5);
          return t1 - t0;
        });
      } finally {
        await boss.offWork("ping");
      }
    },
    async close() {
      await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
      await sql.end();
    },
  };
}
