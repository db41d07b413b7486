// How Reproq's drain cost changes as task_runs grows (`npm run bench:growth`, `-- --quick` for a
// smoke run): a drain with many finished runs already in the table, a drain ahead of a large
// READY backlog of lower priority, and enqueue-to-start latency while retention prunes a
// million finished runs. Rows are filled with raw SQL in the real schema, shaped like the rows
// enqueue() and a worker write.
import os from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { getBackend } from "../../dist/index.js";
import { pruneRuns } from "../../dist/ops/prune.js";
import { noop, startPingProbe, timedDrain } from "../adapters/reproq-tasks.mjs";
import {
  bulkEnqueueRuns,
  fmt,
  markdownTable,
  median,
  ms,
  numericFlag,
  percentiles,
  reportHeader,
  sleep,
  spawnReproqWorker,
  stringFlag,
} from "./lib.mjs";
import { openReproqDatabase } from "./reproq-db.mjs";

const quick = process.argv.includes("--quick");
const TASKS = numericFlag("tasks", quick ? 2_000 : 20_000);
const CONCURRENCY = numericFlag("concurrency", 10);
const SIZES = stringFlag("sizes", quick ? "10000,100000" : "10000,100000,1000000")
  .split(",")
  .map(Number)
  .filter((n) => n > 0)
  .sort((a, b) => a - b);
const ROUNDS = numericFlag("rounds", 3);
// Finished runs the prune deletes: the largest size unless given.
const PRUNE = numericFlag("prune", SIZES.at(-1) ?? 0);
const PROBES = numericFlag("probes", quick ? 100 : 300);
const TARGET = 0.15;
const BACKLOG_QUEUE = "backlog";
const BACKLOG_PRIORITY = -10;
const BULK_QUEUE = "bulk";
// Filled finished runs ended between this long ago and five days before that: old enough for a
// retention of one hour to select, young enough that the default retention (7 days) keeps them.
const FINISHED_AGE_MS = 2 * 3_600_000;
const PRUNE_OLDER_THAN_MS = 3_600_000;

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-growth-pg", prefix: "reproq_growthbench_" });
const { sql, table, schema } = bench;
const backend = getBackend();
const rows = [];
const notes = [];
const loadBefore = os.loadavg();
let filled = 0; // serial numbers used by fill(), so every filled run has its own spec and hash

try {
  // ---- a. finished runs already in the table: 0, then each size (grown in place)
  const empty = await drainRounds({});
  rows.push(drainRow(`drain ${fmt(TASKS)}, empty table`, empty, empty));
  let finished = 0;
  for (const size of SIZES) {
    const t0 = performance.now();
    await fill({ count: size - finished, status: "SUCCESSFUL", queue: "default", priority: 0 });
    finished = size;
    await sql.query(`VACUUM (ANALYZE) ${table}`);
    notes.push(
      `${fmt(size)} finished runs filled and vacuumed in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    rows.push(
      drainRow(`drain ${fmt(TASKS)}, ${fmt(size)} finished runs in the table`, await drainRounds({}), empty),
    );
  }

  // ---- c. retention prune of the finished runs while a worker drains, against the same probe without it
  if (PRUNE > 0) {
    if (finished < PRUNE) {
      await fill({ count: PRUNE - finished, status: "SUCCESSFUL", queue: "default", priority: 0 });
      await sql.query(`VACUUM (ANALYZE) ${table}`);
    }
    rows.push(...(await pruneUnderLoad()));
  }

  // ---- b. a READY backlog of lower priority on a second queue the same worker serves
  const queues = { queues: ["default", BACKLOG_QUEUE] };
  await sql.query(`TRUNCATE ${table}`);
  const noBacklog = await drainRounds(queues);
  rows.push(drainRow(`drain ${fmt(TASKS)}, no backlog (worker serves both queues)`, noBacklog, noBacklog));
  for (const size of SIZES) {
    await sql.query(`TRUNCATE ${table}`);
    await fill({ count: size, status: "READY", queue: BACKLOG_QUEUE, priority: BACKLOG_PRIORITY });
    await sql.query(`VACUUM (ANALYZE) ${table}`);
    rows.push(
      drainRow(
        `drain ${fmt(TASKS)} at priority 0, ${fmt(size)} READY at priority ${BACKLOG_PRIORITY} in queue ${BACKLOG_QUEUE}`,
        await drainRounds(queues),
        noBacklog,
      ),
    );
  }
} finally {
  await bench.close();
}

report();

// ---------------------------------------------------------------- filling

/**
 * Inserts `count` runs of bench.noop in one statement, each with its own arguments and hash:
 * READY ones as enqueue() writes them (dedup key set), finished ones as a worker leaves them
 * (one attempt, started and finished a moment after enqueue, at spread-out times in the past).
 */
async function fill({ count, status, queue, priority }) {
  if (count <= 0) return;
  const from = filled + 1;
  filled += count;
  const done = status !== "READY";
  await sql.query(
    `INSERT INTO ${table} (queue_name, priority, run_after, spec_json, spec_hash, dedup_key, task_path, status,
                           enqueued_at, started_at, last_attempted_at, finished_at, attempts, worker_ids,
                           return_json, provenance_json, updated_at)
     SELECT $3::text, $4::int, s.enq, s.spec, s.hash, CASE WHEN $6::boolean THEN NULL ELSE s.hash END, 'bench.noop', $5::text,
            s.enq, s.fin - interval '2 ms', s.fin - interval '2 ms', s.fin, CASE WHEN $6 THEN 1 ELSE 0 END,
            CASE WHEN $6 THEN ARRAY['bench-host:4242:0f3c'] ELSE '{}' END,
            CASE WHEN $6 THEN 'null'::jsonb END,
            jsonb_build_object('code_ref', repeat('c', 40), 'app_version', '1.4.2',
                               'lockfile_hash', encode(sha256('lockfile'::bytea), 'hex'), 'reproq_version', '0.1.0'),
            coalesce(s.fin, s.enq)
       FROM generate_series($1::bigint, $2::bigint) g,
            LATERAL (SELECT jsonb_build_object('v', 1, 'args', jsonb_build_array(g), 'lock_key', NULL, 'priority', $4::int,
                                               'run_after', NULL, 'task_path', 'bench.noop', 'queue_name', $3::text,
                                               'concurrency_key', NULL, 'concurrency_limit', 0) AS spec,
                            encode(sha256(('fill:' || g)::bytea), 'hex') AS hash,
                            CASE WHEN $6 THEN now() - make_interval(secs => $7::float8 / 1000 + g % 432000) END AS fin,
                            CASE WHEN $6 THEN now() - make_interval(secs => $7::float8 / 1000 + g % 432000 + 0.05)
                                 ELSE now() END AS enq) s`,
    [from, filled, queue, priority, status, done, FINISHED_AGE_MS],
  );
}

// ---------------------------------------------------------------- drains

/**
 * ROUNDS times: enqueues TASKS no-op runs at priority 0 on the default queue, analyzes the table,
 * drains them with one in-process worker (timedDrain: from runWorker() until all are SUCCESSFUL),
 * then deletes them again so every round starts from the same table. Returns the rates (runs/s).
 */
async function drainRounds(config) {
  const rates = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { rows: top } = await sql.query(`SELECT coalesce(max(result_id), 0)::bigint AS id FROM ${table}`);
    const after = top[0].id;
    await bulkEnqueueRuns(backend, noop, TASKS);
    await sql.query(`ANALYZE ${table}`);
    const finished = async () => {
      const { rows: r } = await sql.query(
        `SELECT count(*)::int AS n FROM ${table} WHERE result_id > $1 AND status = 'SUCCESSFUL' AND queue_name = 'default'`,
        [after],
      );
      return r[0].n >= TASKS;
    };
    const { elapsed } = await timedDrain({ n: TASKS, concurrency: CONCURRENCY, finished, config });
    rates.push(TASKS / (elapsed / 1000));
    // The measured runs go, and any backlog runs the worker reached before it stopped go back.
    await sql.query(`DELETE FROM ${table} WHERE result_id > $1 AND queue_name = 'default'`, [after]);
    await sql.query(
      `UPDATE ${table} SET status = 'READY', started_at = NULL, finished_at = NULL, attempts = 0, worker_ids = '{}',
                           return_json = NULL, leased_by = NULL, leased_until = NULL, lease_token = NULL
        WHERE queue_name = $1 AND status <> 'READY'`,
      [BACKLOG_QUEUE],
    );
    await sql.query(`VACUUM ${table}`);
  }
  return rates;
}

function drainRow(label, rates, baseline) {
  const rate = median(rates);
  const ratio = rate / median(baseline);
  const verdict = rates === baseline ? "-" : ratio >= 1 - TARGET ? "met" : "missed";
  return [
    `${label}, one worker, concurrency ${CONCURRENCY}`,
    `${fmt(rate)} runs/s (median; rounds: ${rates.map(fmt).join(", ")})`,
    rates === baseline ? "1.000 (baseline)" : ratio.toFixed(3),
    verdict,
  ];
}

// ---------------------------------------------------------------- prune under load

/**
 * A `reproq worker` process drains queue `bulk` (kept topped up with READY runs by raw inserts)
 * while a worker in this process serves the probe's pings on the default queue. First PROBES sequential probes without
 * a prune; then the retention prune of every run finished more than an hour ago (pruneRuns, what
 * `reproq prune --status SUCCESSFUL --older-than 1h` runs, on a connection of its own) with probes
 * one after another until it returns.
 */
async function pruneUnderLoad() {
  const { rows: before } = await sql.query(
    `SELECT count(*)::int AS n FROM ${table} WHERE status = 'SUCCESSFUL' AND finished_at < now() - interval '1 hour'`,
  );
  let feeding = true;
  const topUp = async () => {
    const { rows: r } = await sql.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE status = 'READY' AND queue_name = $1`,
      [BULK_QUEUE],
    );
    if (r[0].n < 10_000) await fill({ count: 20_000, status: "READY", queue: BULK_QUEUE, priority: 0 });
  };
  await topUp();
  const feeder = (async () => {
    while (feeding) {
      await topUp();
      await sleep(200);
    }
  })();
  // The draining worker is a process of its own, so the probe's timings are not this process's
  // event loop busy with another worker's runs.
  const drainer = spawnReproqWorker([
    "--dsn",
    bench.databaseUrl,
    "--queues",
    BULK_QUEUE,
    "--concurrency",
    String(CONCURRENCY),
    "--worker-id",
    "bench-bulk",
  ]);
  const clock = async () => (await sql.query("SELECT clock_timestamp() AS t")).rows[0].t;
  // Runs of queue bulk that ended from..to (finished runs filled earlier ended hours ago).
  const drainedRate = async (from, to) => {
    const { rows: r } = await sql.query(
      `SELECT count(*)::int AS n FROM ${table}
        WHERE status = 'SUCCESSFUL' AND finished_at >= $1 AND finished_at < $2 AND queue_name = $3`,
      [from, to, BULK_QUEUE],
    );
    return r[0].n / ((to - from) / 1000);
  };
  for (const t0 = performance.now(); (await drainedRate(new Date(0), await clock())) === 0; ) {
    if (performance.now() - t0 > 30_000) throw new Error("the bulk worker started no run in 30 s");
    await sleep(100);
  }
  const pinger = await startPingProbe();
  const pruneClient = new pg.Client({ connectionString: bench.databaseUrl });
  await pruneClient.connect();
  let probeIndex = 0;
  const probeOnce = async (into) => {
    const t = await pinger.probe(probeIndex++);
    into.push(t.started - t.before);
  };
  try {
    const idle = [];
    const idleFrom = await clock();
    for (let i = 0; i < PROBES; i++) await probeOnce(idle);
    const idleRate = await drainedRate(idleFrom, await clock());

    const [p50, , p99] = percentiles(idle);
    const verdict = (r) => (r <= 1 + TARGET ? "met" : "missed");
    const rows = [];
    const drained = [`${fmt(idleRate)} runs/s without a prune`];
    // Half the runs at full speed, the rest as `reproq prune` deletes by default (pausing between
    // batches as long as each took): the same load, one after the other.
    const half = Math.floor(before[0].n / 2);
    for (const phase of [
      { label: "at full speed (--no-throttle)", throttle: false, limit: Math.max(half, 1) },
      { label: "throttled (the default)", throttle: true },
    ]) {
      const during = [];
      let pruning = true;
      const pruneFrom = await clock();
      const t0 = performance.now();
      const prune = pruneRuns(pruneClient, schema, {
        statuses: ["SUCCESSFUL"],
        olderThanMs: PRUNE_OLDER_THAN_MS,
        throttle: phase.throttle,
        ...(phase.limit === undefined ? {} : { limit: phase.limit }),
      }).finally(() => {
        pruning = false;
      });
      while (pruning) await probeOnce(during);
      const { count } = await prune;
      const pruneSeconds = (performance.now() - t0) / 1000;
      drained.push(
        `${fmt(await drainedRate(pruneFrom, await clock()))} runs/s during the prune ${phase.label}`,
      );
      const [q50, , q99] = percentiles(during);
      rows.push(
        [
          `retention prune of ${fmt(count)} finished runs ${phase.label}, batches of 1,000, while a worker drains`,
          `${pruneSeconds.toFixed(1)} s (${fmt(count / pruneSeconds)} runs/s deleted)`,
          "-",
          "-",
        ],
        [
          `enqueue-to-start p50 without a prune (${PROBES} probes) / during it (${during.length} probes)`,
          `${ms(p50)} / ${ms(q50)}`,
          (q50 / p50).toFixed(2),
          verdict(q50 / p50),
        ],
        [
          "enqueue-to-start p99 without a prune / during it",
          `${ms(p99)} / ${ms(q99)}`,
          (q99 / p99).toFixed(2),
          verdict(q99 / p99),
        ],
      );
    }
    notes.push(
      `prune: ${fmt(before[0].n)} runs finished more than an hour ago; the worker on queue ${BULK_QUEUE} drained ${drained.join(", ")}`,
    );
    return rows;
  } finally {
    feeding = false;
    await feeder;
    await pinger.stop();
    await drainer.stop();
    await pruneClient.end();
    await sql.query(`DELETE FROM ${table} WHERE queue_name = $1`, [BULK_QUEUE]);
  }
}

// ---------------------------------------------------------------- reporting

function report() {
  const lines = [
    ...reportHeader({
      title: `Reproq growth benchmark${quick ? " (quick)" : ""}`,
      loadBefore,
      databaseLines: bench.describe(),
    }),
    `- settings: ${fmt(TASKS)} no-op runs per drain, median of ${ROUNDS} rounds, one in-process worker at concurrency ${CONCURRENCY} (worker defaults otherwise); drains timed from runWorker() until all are SUCCESSFUL; table vacuumed and analyzed after each fill, analyzed after each enqueue`,
    `- finished runs: raw inserts of SUCCESSFUL no-op runs in the default queue, finished between 2 hours and 5 days ago (kept by the default retention); backlog: READY no-op runs in queue ${BACKLOG_QUEUE} at priority ${BACKLOG_PRIORITY}, a queue the measured worker also serves, so the backlog is among every claim's candidates (behind the measured runs in claim order: priority first)`,
    ...notes.map((n) => `- ${n}`),
    "",
    ...markdownTable(
      ["measurement", "result", "ratio to baseline", `target: within ${TARGET * 100}% of the empty table`],
      rows,
    ),
    "",
    "Latency rows compare the same probe (sequential single runs on an idle worker of their own) with and without the prune; the ratio is during / without.",
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
