// What each executor costs per run: one worker drains the same queue of no-op runs with
// isolation "in-process", "thread" and "process" in turn (interleaved rounds, median), at one
// concurrency. The README's executor table quotes this bench.
//
//   npm run bench:executors                 # 5,000 runs per drain, 3 rounds
//   npm run bench:executors -- --quick      # 1,000 runs, 1 round
//   node bench/runner/executors.mjs --tasks=20000 --rounds=5 --concurrency=20
//
// Uses DATABASE_URL's server when set, else an embedded PostgreSQL in .reproq/bench-pg.
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getBackend, pauseQueue, resumeQueue, runWorker } from "../../dist/index.js";
import { noop } from "../adapters/reproq-tasks.mjs";
import { fmt, median, numericFlag, revision, sleep } from "./lib.mjs";
import { openReproqDatabase } from "./reproq-db.mjs";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const TASKS = numericFlag("tasks", quick ? 1_000 : 5_000);
const ROUNDS = numericFlag("rounds", quick ? 1 : 3);
const CONCURRENCY = numericFlag("concurrency", 10);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TASK_MODULE = "bench/adapters/reproq-tasks.mjs";
const MODES = ["in-process", "thread", "process"];

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-pg", prefix: "reproq_executors_" });
const { sql, table } = bench;
const rates = Object.fromEntries(MODES.map((mode) => [mode, []]));
const WARM = CONCURRENCY * 3;
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) rates[mode].push(await steadyDrain(mode, round));
  }
} finally {
  await bench.close();
}

/**
 * Runs/s of one worker in steady state: its children are started and warm (a first batch ran),
 * the queue is filled while paused, and the clock runs from resume until every run is written.
 */
async function steadyDrain(mode, round) {
  await sql.query(`TRUNCATE ${table}`);
  let succeeded = 0;
  let wanted = WARM;
  let reached = () => {};
  const worker = await runWorker({
    cwd: ROOT,
    logger: false,
    config: { isolation: mode, tasks: [TASK_MODULE], concurrency: CONCURRENCY, pollInterval: 20 },
  });
  worker.on("succeeded", () => {
    if (++succeeded === wanted) reached();
  });
  const until = (n) => {
    wanted = n;
    return succeeded >= n ? Promise.resolve() : new Promise((resolve) => (reached = resolve));
  };
  try {
    const id = (i) => [noop, [`${round}-${mode}-${i}`]];
    await getBackend().bulkEnqueue(Array.from({ length: WARM }, (_, i) => id(`warm-${i}`)));
    await until(WARM);
    await pauseQueue("default");
    await getBackend().bulkEnqueue(Array.from({ length: TASKS }, (_, i) => id(i)));
    await sql.query(`ANALYZE ${table}`);
    const t0 = performance.now();
    await resumeQueue("default");
    await until(WARM + TASKS);
    // Successes are reported before their batched write: wait for the rows too.
    for (;;) {
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM ${table} WHERE status = 'SUCCESSFUL'`);
      if (rows[0].n >= WARM + TASKS) break;
      await sleep(5);
    }
    return TASKS / ((performance.now() - t0) / 1000);
  } finally {
    await worker.stop();
  }
}

const base = median(rates["in-process"]);
console.log(
  `\n# Executors: ${fmt(TASKS)} no-op runs per drain, concurrency ${CONCURRENCY}, median of ${ROUNDS} (${revision()})\n`,
);
console.log("| isolation | runs/s | wall time per run | vs in-process |");
console.log("| --- | --- | --- | --- |");
for (const mode of MODES) {
  const rate = median(rates[mode]);
  console.log(`| ${mode} | ${fmt(rate)} | ${(1e6 / rate).toFixed(0)} us | ${(rate / base).toFixed(2)}x |`);
}
console.log("\nSteady state: each worker's children are started and warm before the clock starts.");
