// graphile-worker's adapter for bench/runner/compare.mjs.
import { performance } from "node:perf_hooks";
import { sleep } from "../runner/lib.mjs";
import { probeLoop } from "./probe.mjs";

/** Worker settings per variant, as printed in the report. */
export const VARIANTS = {
  batched: "localQueue { size: 500 }, completeJobBatchDelay 0, failJobBatchDelay 0 (maxPoolSize 10)",
  defaults: "defaults (no local queue, no completion batching, maxPoolSize 10)",
};

function graphileWorkerPreset(variant) {
  return variant === "batched"
    ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
    : { worker: {} };
}

/**
 * @param {string} databaseUrl
 * @param {{ sql: import("pg").Client, count: (q: string) => Promise<number> }} db
 */
export async function open(databaseUrl, { sql, count }) {
  let seq = 0;
  const { Logger, makeWorkerUtils, run, runMigrations } = await import("graphile-worker");
  const silent = new Logger(() => () => {});
  await runMigrations({ connectionString: databaseUrl, logger: silent });
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: silent });
  const table = "graphile_worker._private_jobs";
  const startRunner = (concurrency, variant, taskList) =>
    run({
      connectionString: databaseUrl,
      concurrency,
      noHandleSignals: true,
      logger: silent,
      taskList,
      preset: graphileWorkerPreset(variant),
    });
  return {
    sql,
    table,
    enqueueOne: () => utils.addJob("noop", { i: seq++ }),
    bulk: (n) =>
      utils.addJobs(Array.from({ length: n }, () => ({ identifier: "noop", payload: { i: seq++ } }))),
    // Graphile Worker deletes a job when it completes.
    pending: () => count(`SELECT count(*)::int AS n FROM ${table}`),
    reset: () => sql.query(`DELETE FROM ${table}`),
    analyze: () => sql.query(`VACUUM (ANALYZE) ${table}`),
    async startWorker({ concurrency, variant, onDone }) {
      const runner = await startRunner(concurrency, variant, { noop: async () => {} });
      runner.events.on("job:success", () => onDone(1));
      return { stop: () => runner.stop() };
    },
    async probe(samples, budgetMs, variant) {
      let hook = () => {};
      let succeeded = () => {};
      const runner = await startRunner(10, variant, {
        ping: async () => hook(performance.now()),
      });
      runner.events.on("job:success", () => succeeded());
      await sleep(500);
      try {
        return await probeLoop(samples, budgetMs, async (i) => {
          const start = new Promise((resolve) => {
            hook = resolve;
          });
          const finished = new Promise((resolve) => {
            succeeded = resolve;
          });
          const t0 = performance.now();
          await utils.addJob("ping", { i });
          const t1 = await start;
          await finished;
          return t1 - t0;
        });
      } finally {
        await runner.stop();
      }
    },
    async close() {
      await utils.release();
      await sql.end();
    },
  };
}
