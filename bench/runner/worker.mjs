import os from "node:os";
import { performance } from "node:perf_hooks";
import { getBackend } from "../../dist/index.js";
import { noop, startPingProbe, timedDrain } from "../adapters/reproq-tasks.mjs";
import { bulkEnqueueRuns, fmt, markdownTable, median, ms, percentiles, reportHeader } from "./lib.mjs";
import { openReproqDatabase } from "./reproq-db.mjs";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const flag = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const TASKS = Number(flag("tasks", quick ? 2_000 : 20_000));
const SAMPLES = Number(flag("samples", quick ? 100 : 500));
const CONCURRENCIES = flag("concurrency", "10,50").split(",").map(Number);
const CHUNK = 5_000;
const TARGET_DRAIN = 5_000;
const TARGET_P50_MS = 5;

// ---------------------------------------------------------------- database

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-pg", prefix: "reproq_bench_" });
const { sql, table } = bench;
const rows = [];
const loadBefore = os.loadavg();

try {
  const commit = await commitRoundTrip(sql, SAMPLES > 0 ? 200 : 0);

  // The first fill of a new database has no planner statistics yet (as after TRUNCATE or a burst
  // into an idle table, until autovacuum's next ANALYZE); later drains ANALYZE first, as on a live table.
  const phases = [
    { concurrency: CONCURRENCIES[0], analyze: false },
    ...CONCURRENCIES.map((concurrency) => ({ concurrency, analyze: true })),
  ];
  const enqueueRates = [];
  const drains = [];
  for (const phase of phases) {
    await sql.query(`TRUNCATE ${table}`);
    enqueueRates.push(await bulkEnqueue(TASKS));
    if (phase.analyze) await sql.query(`ANALYZE ${table}`);
    drains.push({ ...phase, ...(await drain(table, phase.concurrency, TASKS)) });
  }
  const rss = process.memoryUsage().rss;

  await sql.query(`TRUNCATE ${table}`);
  const latency = SAMPLES > 0 ? await measureLatency(SAMPLES) : null;

  rows.push([
    `bulk enqueue (${fmt(TASKS)} no-op, chunks of ${fmt(Math.min(CHUNK, TASKS))})`,
    `${fmt(median(enqueueRates))} tasks/s (median; runs: ${enqueueRates.map(fmt).join(", ")})`,
    "-",
  ]);
  for (const d of drains) {
    const stats = d.analyze ? "statistics current" : "table never analyzed";
    rows.push([
      `drain ${fmt(TASKS)} no-op, one worker, concurrency ${d.concurrency} (${stats})`,
      `${fmt(d.rate)} tasks/s (node CPU ${d.cpu.toFixed(0)}% of a core)`,
      `>= ${fmt(TARGET_DRAIN)} tasks/s`,
    ]);
  }
  if (latency) {
    rows.push([
      `enqueue-to-start latency p50 / p95 / p99 (${SAMPLES} sequential, idle worker)`,
      latency.total.map(ms).join(" / "),
      `p50 < ${TARGET_P50_MS} ms`,
    ]);
    rows.push(["- of which enqueue() round trip", latency.enqueue.map(ms).join(" / "), "-"]);
    rows.push(["- of which enqueue() returned to handler start", latency.wake.map(ms).join(" / "), "-"]);
    rows.push(["context: one-row UPDATE commit round trip", commit.map(ms).join(" / "), "-"]);
  }
  rows.push([
    "process RSS after the drains (worker and bench share it)",
    `${(rss / 2 ** 20).toFixed(0)} MiB`,
    "-",
  ]);
} finally {
  await bench.close();
}

report();

// ---------------------------------------------------------------- phases

/** Enqueues `n` no-op runs in chunks, one statement per chunk; returns tasks/s. */
function bulkEnqueue(n) {
  return bulkEnqueueRuns(getBackend(), noop, n, { chunk: CHUNK });
}

/** Drains a pre-filled queue of `n` runs with one in-process worker (see timedDrain). */
async function drain(table, concurrency, n) {
  const { elapsed, cpu } = await timedDrain({ n, concurrency, finished: () => allSucceeded(table, n) });
  return { rate: n / (elapsed / 1000), cpu };
}

/** Every one of the `n` runs is SUCCESSFUL in the table. */
async function allSucceeded(table, n) {
  const { rows } = await sql.query(`SELECT count(*)::int AS n FROM ${table} WHERE status = 'SUCCESSFUL'`);
  return rows[0].n >= n;
}

/**
 * Sequential probes on an idle worker: each enqueues one run and waits until its handler has
 * started and its success was reported before the next, so no probe queues behind another.
 */
async function measureLatency(samples) {
  const pinger = await startPingProbe();
  const total = [];
  const enqueue = [];
  const wake = [];
  try {
    for (let i = 0; i < samples; i++) {
      const t = await pinger.probe(i);
      total.push(t.started - t.before);
      enqueue.push(t.enqueued - t.before);
      wake.push(t.started - t.enqueued);
    }
  } finally {
    await pinger.stop();
  }
  return { total: percentiles(total), enqueue: percentiles(enqueue), wake: percentiles(wake) };
}

/** The floor under every write: one autocommitted single-row UPDATE (WAL flush included). */
async function commitRoundTrip(client, n) {
  if (n === 0) return [0, 0, 0];
  await client.query("CREATE TABLE bench_commit (x int); INSERT INTO bench_commit VALUES (0)");
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.query("UPDATE bench_commit SET x = x + 1");
    times.push(performance.now() - t0);
  }
  await client.query("DROP TABLE bench_commit");
  return percentiles(times);
}

// ---------------------------------------------------------------- reporting

function report() {
  const lines = [
    ...reportHeader({
      title: `Reproq worker benchmark${quick ? " (quick)" : ""}`,
      loadBefore,
      databaseLines: bench.describe(),
    }),
    `- settings: ${fmt(TASKS)} tasks per drain, ${SAMPLES} latency samples; worker defaults otherwise (poolSize 10, in-process executor); drains timed from runWorker() to the last SUCCESSFUL row`,
    "",
    ...markdownTable(["measurement", "result", "target"], rows),
    "",
    "Latency rows give p50 / p95 / p99.",
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
