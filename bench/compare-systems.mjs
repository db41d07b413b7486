// One adapter per queue system for bench/compare.mjs: set up a database, enqueue one job, enqueue a
// batch in one call, run a worker, count unfinished jobs. Each adapter works on its own database.
import os from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { sleep } from "./lib.mjs";

export const SYSTEMS = ["reproq", "graphile", "pgboss"];

/** Worker settings per system and variant, as printed in the report. */
export const VARIANTS = {
  reproq: {
    default: "defaults (poolSize 10, prefetch up to 1000, in-process executor, LISTEN/NOTIFY wake-ups)",
    // A secondary row, as graphile-worker's defaults are: the targets are judged on Reproq's defaults.
    nodedup:
      "dedupActive: false (identical active runs are not deduplicated, so no run enters the dedup index); otherwise defaults",
  },
  graphile: {
    batched: "localQueue { size: 500 }, completeJobBatchDelay 0, failJobBatchDelay 0 (maxPoolSize 10)",
    defaults: "defaults (no local queue, no completion batching, maxPoolSize 10)",
  },
  pgboss: {
    default:
      "useListenNotify, queues created with notify: true; work() with batchSize 500, burstWhenBatchFull, localConcurrency 2 at concurrency 10 and 5 at 100 (each fetch loop runs its batch's handlers together), pollingIntervalSeconds 0.5; pool max 10",
  },
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

function graphileWorkerPreset(variant) {
  return variant === "batched"
    ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
    : { worker: {} };
}

/**
 * @param {string} system
 * @param {string} databaseUrl
 */
export async function openSystem(system, databaseUrl) {
  // Each system's library is imported only when it is opened, so a worker process holds one queue
  // library in memory, not all three (the RSS rows compare processes).
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  const count = async (q) => (await sql.query(q)).rows[0].n;
  let seq = 0;

  if (system === "reproq") {
    const { close, configure, getBackend, migrate, runWorker } = await import("../dist/index.js");
    const { noop, startPingProbe } = await import("./noop-tasks.mjs");
    // A neutral cwd, so a config file in the project cannot change the settings measured.
    const useVariant = (variant = "default") =>
      configure({ databaseUrl, cwd: os.tmpdir(), dedupActive: variant !== "nodedup" });
    useVariant();
    const { schema } = await migrate();
    const table = `"${schema}".task_runs`;
    return {
      sql,
      table,
      /** Producer settings of a variant (dedupActive is decided when runs are enqueued). */
      useVariant,
      enqueueOne: () => noop.enqueue(seq++),
      bulk: (n) => getBackend().bulkEnqueue(Array.from({ length: n }, () => [noop, [seq++]])),
      pending: () => count(`SELECT count(*)::int AS n FROM ${table} WHERE status <> 'SUCCESSFUL'`),
      reset: () => sql.query(`TRUNCATE ${table}`),
      analyze: () => sql.query(`VACUUM (ANALYZE) ${table}`),
      async startWorker({ concurrency, onDone }) {
        const worker = await runWorker({ config: { concurrency }, logger: false });
        worker.on("succeeded", () => onDone(1));
        return { stop: () => worker.stop() };
      },
      async probe(samples, budgetMs) {
        const pinger = await startPingProbe();
        try {
          return await probeLoop(samples, budgetMs, async (i) => {
            const t = await pinger.probe(i);
            return t.started - t.before;
          });
        } finally {
          await pinger.stop();
        }
      },
      async close() {
        await close();
        await sql.end();
      },
    };
  }

  if (system === "graphile") {
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

  if (system === "pgboss") {
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
  throw new Error(`unknown system ${system}`);
}

/** Runs up to `samples` sequential probes, stopping early once `budgetMs` has passed. */
async function probeLoop(samples, budgetMs, one) {
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < samples; i++) {
    times.push(await one(i));
    if (performance.now() - t0 > budgetMs) break;
  }
  return times;
}
