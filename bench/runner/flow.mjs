import os from "node:os";
import { deleteRateLimit, getBackend, runWorker, setRateLimit } from "../../dist/index.js";
import { noop, timedDrain } from "../adapters/reproq-tasks.mjs";
import { bulkEnqueueRuns, fmt, markdownTable, median, ms, percentiles, reportHeader, sleep } from "./lib.mjs";
import { openReproqDatabase } from "./reproq-db.mjs";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const flag = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const TASKS = Number(flag("tasks", quick ? 2_000 : 20_000));
const KEYS = Number(flag("keys", 1_000));
const CONCURRENCY = Number(flag("concurrency", 50));
const RATE = Number(flag("rate", 200));
const WINDOW_S = Number(flag("window", quick ? 3 : 10));
const ROUNDS = Number(flag("rounds", 2));
// The first burst is the measurement with a target; the others are context.
const BURSTS = flag("bursts", "1,10").split(",").map(Number);
const CHUNK = 5_000;
const TARGET_RATIO = 0.5;
const TARGET_RATE_ERROR = 0.1;
const QUEUE = "default";

// ---------------------------------------------------------------- database

// A cluster of its own, so this bench and bench/runner/worker.mjs never share (or stop) one server.
const bench = await openReproqDatabase({ dataDir: ".reproq/bench-flow-pg", prefix: "reproq_flowbench_" });
const { sql, table } = bench;
const rows = [];
const loadBefore = os.loadavg();

try {
  // ---- 1. keyed against unkeyed drains, alternated so neither profits from running second
  // (both with current statistics, as on a live table)
  const plain = [];
  const keyed = [];
  for (let round = 0; round < ROUNDS; round++) {
    await sql.query(`TRUNCATE ${table}`);
    const plainEnqueue = await bulkEnqueue(TASKS, () => undefined);
    await sql.query(`ANALYZE ${table}`);
    plain.push({ enqueue: plainEnqueue, ...(await drain(table, TASKS)) });

    await sql.query(`TRUNCATE ${table}`);
    const keyedEnqueue = await bulkEnqueue(TASKS, (i) => ({
      concurrencyKey: `key-${i % KEYS}`,
      concurrencyLimit: 1,
    }));
    await sql.query(`ANALYZE ${table}`);
    keyed.push({ enqueue: keyedEnqueue, ...(await drain(table, TASKS)) });
    keyed.at(-1).overlap = await maxKeyOverlap(sql, table);
  }
  const ratio = mean(keyed.map((d) => d.rate)) / mean(plain.map((d) => d.rate));

  // ---- 2. rate limit on the queue: the target burst, then a context burst
  const windows = [];
  for (const burst of BURSTS) {
    await sql.query(`TRUNCATE ${table}`);
    windows.push({ burst, ...(await rateWindow(table, burst)) });
  }

  const perKey = TASKS / KEYS;
  const rates = (ds) => ds.map((d) => fmt(d.rate)).join(", ");
  const details = (ds) => ds.map((d) => `${fmt(d.claims)} claims, node CPU ${d.cpu.toFixed(0)}%`).join("; ");
  rows.push([
    `bulk enqueue ${fmt(TASKS)} no-op, without keys / with keys`,
    `${fmt(median(plain.map((d) => d.enqueue)))} / ${fmt(median(keyed.map((d) => d.enqueue)))} tasks/s (median)`,
    "-",
  ]);
  rows.push([
    `drain ${fmt(TASKS)} no-op without keys, one worker, concurrency ${CONCURRENCY}`,
    `${rates(plain)} tasks/s (${details(plain)})`,
    "-",
  ]);
  rows.push([
    `drain ${fmt(TASKS)} no-op on ${fmt(KEYS)} keys (limit 1, ${fmt(perKey)} per key, interleaved), same worker`,
    `${rates(keyed)} tasks/s (${details(keyed)})`,
    "-",
  ]);
  rows.push([
    `keyed / unkeyed drain rate (mean of ${ROUNDS} rounds each)`,
    `${ratio.toFixed(2)} ${ratio >= TARGET_RATIO ? "(met)" : "(missed)"}`,
    `>= ${TARGET_RATIO}`,
  ]);
  rows.push([
    "most runs of one key RUNNING at once (from started_at / finished_at)",
    String(Math.max(...keyed.map((d) => d.overlap))),
    "1",
  ]);
  for (const [i, w] of windows.entries()) {
    const error = w.rate / RATE - 1;
    const target = i === 0;
    rows.push([
      `start rate, queue:${QUEUE} limited to ${RATE}/s with burst ${w.burst}${target ? "" : " (context)"}, ${WINDOW_S} s from the first start (backlog ${fmt(w.backlog)}, concurrency ${CONCURRENCY})`,
      `${w.rate.toFixed(1)} runs/s (${fmt(w.count)} started, ${error >= 0 ? "+" : ""}${(error * 100).toFixed(1)}%; ${fmt(w.claims)} claims)${target ? (Math.abs(error) <= TARGET_RATE_ERROR ? " (met)" : " (missed)") : ""}`,
      target ? `${RATE}/s ± ${TARGET_RATE_ERROR * 100}%` : "-",
    ]);
    rows.push([
      "- gaps between consecutive claims in the window p50 / p95 / max",
      w.gaps.map(ms).join(" / "),
      "-",
    ]);
  }
} finally {
  await bench.close();
}

report();

// ---------------------------------------------------------------- phases

/** Enqueues `n` no-op runs in chunks, one statement per chunk, with options(i) per run; returns tasks/s. */
function bulkEnqueue(n, options) {
  return bulkEnqueueRuns(getBackend(), noop, n, { options, chunk: CHUNK });
}

/**
 * Drains a pre-filled queue of `n` runs with one in-process worker (see timedDrain). Claims are
 * counted by the distinct started_at values (one claim, one transaction, one now()).
 */
async function drain(table, n) {
  const finished = async () => {
    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM ${table} WHERE status = 'SUCCESSFUL'`);
    return rows[0].n >= n;
  };
  const { elapsed, cpu } = await timedDrain({ n, concurrency: CONCURRENCY, finished });
  const { rows } = await sql.query(`SELECT count(DISTINCT started_at)::int AS claims FROM ${table}`);
  const claims = rows[0].claims;
  return { rate: n / (elapsed / 1000), cpu, claims, perClaim: n / claims };
}

/** The largest number of runs of one concurrency key whose [started_at, finished_at) overlap. */
async function maxKeyOverlap(client, table) {
  const { rows } = await client.query(`
    SELECT coalesce(max(running), 0)::int AS n FROM (
      SELECT sum(d) OVER (PARTITION BY concurrency_key ORDER BY at, d) AS running
        FROM (SELECT concurrency_key, started_at AS at, 1 AS d FROM ${table} WHERE concurrency_key IS NOT NULL
              UNION ALL
              SELECT concurrency_key, finished_at, -1 FROM ${table} WHERE concurrency_key IS NOT NULL) e
    ) s`);
  return rows[0].n;
}

/**
 * Fills a backlog of twice what the window needs, sets the bucket (which starts with `burst`
 * tokens), starts the worker, and once the window after the first start has passed on the
 * database clock, counts the starts inside it.
 */
async function rateWindow(table, burst) {
  const backlog = Math.ceil(RATE * WINDOW_S * 2) + 100;
  await bulkEnqueue(backlog, () => undefined);
  await sql.query(`ANALYZE ${table}`);
  await setRateLimit({ key: `queue:${QUEUE}`, rate: RATE, burst });
  const worker = await runWorker({ config: { concurrency: CONCURRENCY }, logger: false });
  try {
    for (;;) {
      const { rows } = await sql.query(
        `SELECT now() >= min(started_at) + make_interval(secs => $1) AS done FROM ${table}`,
        [WINDOW_S + 0.5],
      );
      if (rows[0].done) break;
      await sleep(100);
    }
  } finally {
    await worker.stop();
    await deleteRateLimit(`queue:${QUEUE}`);
  }
  // One claim is one transaction, so the runs it started share one started_at.
  const { rows } = await sql.query(
    `WITH w AS (SELECT min(started_at) AS t0 FROM ${table})
     SELECT extract(epoch FROM r.started_at - w.t0) * 1000 AS at, count(*)::int AS n
       FROM ${table} r, w
      WHERE r.started_at >= w.t0 AND r.started_at < w.t0 + make_interval(secs => $1)
      GROUP BY r.started_at, w.t0
      ORDER BY r.started_at`,
    [WINDOW_S],
  );
  const claims = rows.map((r) => Number(r.at));
  const count = rows.reduce((sum, r) => sum + r.n, 0);
  const gaps = claims.slice(1).map((t, i) => t - claims[i]);
  return {
    backlog,
    count,
    claims: claims.length,
    rate: count / WINDOW_S,
    gaps: [...percentiles(gaps).slice(0, 2), Math.max(0, ...gaps)],
  };
}

// ---------------------------------------------------------------- reporting

function report() {
  const lines = [
    ...reportHeader({
      title: `Reproq flow-control benchmark${quick ? " (quick)" : ""}`,
      loadBefore,
      databaseLines: bench.describe(),
    }),
    `- settings: ${fmt(TASKS)} runs per drain, ${fmt(KEYS)} keys, one worker at concurrency ${CONCURRENCY} (poolSize 10, in-process executor); drains timed from runWorker() to the last SUCCESSFUL row, tables analyzed after filling; rate window ${WINDOW_S} s`,
    "",
    ...markdownTable(["measurement", "result", "target"], rows),
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function mean(values) {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
