// Reproq's adapter for bench/runner/compare.mjs, through the public API of the build (dist/).
import os from "node:os";
import { probeLoop } from "./probe.mjs";

/** Worker settings per variant, as printed in the report. */
export const VARIANTS = {
  default: "defaults (poolSize 10, prefetch up to 1000, in-process executor, LISTEN/NOTIFY wake-ups)",
  // A secondary row, as graphile-worker's defaults are: the targets are judged on Reproq's defaults.
  nodedup:
    "dedupActive: false (identical active runs are not deduplicated, so no run enters the dedup index); otherwise defaults",
};

/**
 * @param {string} databaseUrl
 * @param {{ sql: import("pg").Client, count: (q: string) => Promise<number> }} db
 */
export async function open(databaseUrl, { sql, count }) {
  let seq = 0;
  const { close, configure, getBackend, migrate, runWorker } = await import("../../dist/index.js");
  const { noop, startPingProbe } = await import("./reproq-tasks.mjs");
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
