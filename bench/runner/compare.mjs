// Side-by-side benchmark of Reproq, graphile-worker and pg-boss on one PostgreSQL server, each in a
// fresh database of its own. Prints a markdown report.
//
//   npm run bench               full run (50,000 jobs per drain, 1,000 latency samples; a few minutes)
//   npm run bench -- --quick    smoke run under a minute (2,000 jobs per drain, 200 samples)
//
// Measured per system, through each library's public API:
// 1. enqueue rate: one job per call with 1 producer, and with 10 concurrent producers; bulk calls
//    of 10,000 (Reproq bulkEnqueue, graphile-worker addJobs, pg-boss insert);
// 2. drain rate: a pre-filled queue of no-op jobs, one worker process at concurrency 10 and 100
//    (bench/runner/compare-worker.mjs, timed inside it from starting the worker until every job is
//    finished in the database), and for Reproq two `reproq worker --concurrency 50` processes; and
//    two raw-SQL drain floors (bench/adapters/raw-floor.mjs: 4 connections claiming 500 with SKIP LOCKED and
//    deleting them, or keeping them with a result written in place);
// 3. enqueue + drain end to end: 4 producers enqueue the same number of jobs in bulk calls of 500
//    while one worker process at concurrency 10 drains them, timed from the first enqueue until the
//    last job is finished in the database; Reproq's rate is compared with a raw-SQL floor
//    (bench/adapters/raw-floor.mjs: the pg driver alone, insert 500 / claim 500 SKIP LOCKED / delete, on 4
//    connections);
// 4. enqueue-to-start latency over sequential jobs on an idle worker (concurrency 10), and the
//    raw-SQL floor for it (an insert that NOTIFYs a listening claimer);
// 5. VmRSS of the worker process after the drain at concurrency 100;
// then Reproq-only rows: 1,000 concurrency keys, a rate limit, retries where 10% of runs fail once.
//
// Targets, each printed met or missed with the ratio it was judged by: drain >= 1.5x graphile
// batched at concurrency 10 and at 100; bulk enqueue >= 100,000/s and >= 2x graphile addJobs; single
// enqueue ahead of graphile; end to end >= 1.5x graphile batched; start latency p50 and p99 <=
// graphile's (idle worker); 10% of runs failing once costs < 10% of the drain rate; 1,000
// concurrency keys within 1.5x of unkeyed; worker VmRSS < 150 MB at concurrency 100.
//
// Each peer runs at its recommended high-throughput settings (bench/adapters/ VARIANTS, printed
// in the report); graphile-worker's defaults are a secondary row. Reproq runs with its defaults; a
// secondary row gives its bulk, drain and end-to-end rates with dedupActive off.
//
// Uses DATABASE_URL's server when set, else an embedded PostgreSQL in .reproq/bench-compare-pg
// with default durability, so commits really wait for fsync.
import { fork } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { deleteRateLimit, getBackend, runWorker, setRateLimit } from "../../dist/index.js";
import { openSystem, SYSTEMS, VARIANTS } from "../adapters/index.mjs";
import { rawDrain, rawLatency, rawThroughput } from "../adapters/raw-floor.mjs";
import { flaky, noop, timedDrain } from "../adapters/reproq-tasks.mjs";
import {
  fmt,
  loadAverage,
  machine,
  median,
  ms,
  openServer,
  percentiles,
  revision,
  serverInfo,
  sleep,
  spawnReproqWorker,
  vmRss,
} from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const flag = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const DRAIN = Number(flag("tasks", quick ? 2_000 : 50_000));
const SAMPLES = Number(flag("samples", quick ? 200 : 1_000));
const SINGLE = Number(flag("single", quick ? 500 : 5_000));
const PRODUCERS = 10;
const BULK = 10_000;
const BULK_CALLS = quick ? 1 : 3;
const CAP_MS = Number(flag("cap", quick ? 3 : 30)) * 1000;
const PROBE_BUDGET_MS = quick ? 3_000 : 30_000;
const FLOW_TASKS = quick ? 2_000 : 20_000;
const KEYS = 1_000;
const RATE = 200;
const RATE_WINDOW_S = quick ? 2 : 5;
const TWO_PROCESSES = !quick && !argv.includes("--no-two-process");
// End to end: as many jobs as a drain, enqueued in calls of E2E_BATCH by E2E_PRODUCERS producers
// while the worker runs; the raw-SQL floor uses the same batch size and as many connections.
const E2E_BATCH = 500;
const E2E_PRODUCERS = 4;
const E2E_CONCURRENCY = 10;

// The targets the report marks met or missed (each with the ratio it was judged by).
const TARGET_DRAIN_RATIO = 1.5; // drain at concurrency 10 and 100, against graphile batched
const TARGET_BULK = 100_000; // bulk enqueue, jobs/s
const TARGET_BULK_RATIO = 2; // bulk enqueue, against graphile addJobs
const TARGET_E2E_RATIO = 1.5; // end to end, against graphile batched
const TARGET_RETRY_COST = 0.1; // drain time lost when 10% of runs fail once
const TARGET_KEYED_SLOWDOWN = 1.5; // unkeyed / keyed drain rate, 1,000 concurrency keys
const TARGET_RSS_MB = 150;

const require = createRequire(import.meta.url);
/** A dependency's version, from its package.json found above its entry point: graphile-worker 0.18
 * and pg-boss 12 do not export `./package.json`. */
function versionOf(name) {
  for (let dir = path.dirname(require.resolve(name)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8"));
      if (pkg.name === name) return pkg.version;
    }
  }
  return "?";
}
const versions = {
  reproq: `${require("../../package.json").version} (${revision()})`,
  graphile: versionOf("graphile-worker"),
  pgboss: versionOf("pg-boss"),
  pg: versionOf("pg"),
};

const loadBefore = loadAverage();
const startedAt = performance.now();
const log = (line) =>
  process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${line}\n`);

const srv = await openServer({ dataDir: ".reproq/bench-compare-pg", prefix: "reproq_compare_" });
const urls = {};
const systems = {};
const out = {
  enqueue: {},
  drain: [],
  twoProcess: null,
  drainFloor: {},
  e2e: {},
  floor: null,
  latency: {},
  flow: null,
};
let info;

try {
  for (const name of SYSTEMS) {
    urls[name] = await srv.createDatabase(name);
    systems[name] = await openSystem(name, urls[name]);
  }
  urls.raw = await srv.createDatabase("raw");
  info = await serverInfo(systems.reproq.sql);

  // ---- 1. enqueue rates
  for (const name of SYSTEMS) {
    log(`enqueue: ${name}`);
    out.enqueue[name] = await enqueueRates(systems[name]);
  }
  log("enqueue: reproq nodedup (bulk)");
  systems.reproq.useVariant("nodedup");
  out.enqueue.reproqNoDedup = await bulkRate(systems.reproq);
  systems.reproq.useVariant();

  // ---- 2. drains, systems alternating at each concurrency
  for (const concurrency of [10, 100]) {
    for (const [name, variant] of [
      ["reproq", "default"],
      ["graphile", "batched"],
      ["graphile", "defaults"],
      ["pgboss", "default"],
      ["reproq", "nodedup"],
    ]) {
      log(`drain: ${name} ${variant} concurrency ${concurrency}`);
      out.drain.push({ name, variant, concurrency, ...(await drainInChild(name, variant, concurrency)) });
    }
  }
  if (TWO_PROCESSES) {
    log("drain: reproq, two worker processes");
    out.twoProcess = await drainTwoProcesses();
  }
  // What the server drains with no queue library at all: completed jobs deleted (as
  // graphile-worker does) or kept with a result written in place (as Reproq keeps runs).
  for (const keep of [false, true]) {
    log(`raw-SQL drain floor: ${keep ? "results kept" : "deleted"}`);
    await checkpoint(systems.reproq);
    out.drainFloor[keep ? "keep" : "delete"] = await rawDrain(urls.raw, {
      jobs: DRAIN,
      connections: E2E_PRODUCERS,
      batch: E2E_BATCH,
      keep,
    });
  }

  // ---- 3. enqueue + drain end to end, and the raw-SQL floor
  log("raw-SQL floor: insert + claim + delete");
  await checkpoint(systems.reproq);
  out.floor = {
    throughput: await rawThroughput(urls.raw, { jobs: DRAIN, connections: E2E_PRODUCERS, batch: E2E_BATCH }),
  };
  for (const [name, variant] of [
    ["reproq", "default"],
    ["graphile", "batched"],
    ["pgboss", "default"],
    ["reproq", "nodedup"],
  ]) {
    log(`end to end: ${name} ${variant}`);
    out.e2e[variant === "nodedup" ? "reproqNoDedup" : name] = await endToEnd(name, variant);
  }

  // ---- 4. latency on idle workers, and the raw-SQL floor
  log("raw-SQL floor: insert + NOTIFY latency");
  out.floor.latency = await rawLatency(urls.raw, { samples: SAMPLES });
  for (const [name, variant] of [
    ["reproq", "default"],
    ["graphile", "batched"],
    ["graphile", "defaults"],
    ["pgboss", "default"],
  ]) {
    log(`latency: ${name} ${variant}`);
    await systems[name].reset();
    const times = await systems[name].probe(SAMPLES, PROBE_BUDGET_MS, variant);
    out.latency[`${name}/${variant}`] = { p: percentiles(times), n: times.length };
  }

  // ---- 4. Reproq-only flow control and retries
  log("reproq: keys, retries, rate limit");
  out.flow = await reproqFlow(systems.reproq);
} finally {
  for (const name of Object.keys(systems)) await systems[name].close().catch(() => {});
  await srv.close();
}

process.stdout.write(report());
log("done");
process.exit(0);

// ---------------------------------------------------------------- phases

async function enqueueRates(system) {
  await system.reset();
  let t0 = performance.now();
  for (let i = 0; i < SINGLE; i++) await system.enqueueOne();
  const single = SINGLE / ((performance.now() - t0) / 1000);

  await system.reset();
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      for (let i = 0; i < SINGLE / PRODUCERS; i++) await system.enqueueOne();
    }),
  );
  const concurrent = SINGLE / ((performance.now() - t0) / 1000);

  return { single, concurrent, ...(await bulkRate(system)) };
}

/** Bulk calls of BULK jobs into an empty table: the median rate of BULK_CALLS calls. */
async function bulkRate(system) {
  const bulk = [];
  for (let k = 0; k < BULK_CALLS; k++) {
    await system.reset();
    const t0 = performance.now();
    await system.bulk(BULK);
    bulk.push(BULK / ((performance.now() - t0) / 1000));
  }
  await system.reset();
  return { bulk: median(bulk), bulkRuns: bulk };
}

/** Empties the system's table, fills it with `n` no-op jobs in calls of BULK, and vacuums and analyzes it. */
async function fill(system, n) {
  await system.reset();
  for (let done = 0; done < n; done += BULK) await system.bulk(Math.min(BULK, n - done));
  await system.analyze();
  await checkpoint(system);
}

/**
 * Starts a timed row on a quiet server: no autovacuum worker busy (the rows before leave tables
 * that autovacuum visits, and on two cores a vacuum inside a timed row slows whichever system
 * happens to be running; fills are VACUUMed, so the filled table itself is not visited), then a
 * fresh checkpoint (it is server-wide), so a checkpoint forced by the write-ahead log of the rows
 * before does not land inside this one. CHECKPOINT needs superuser or pg_checkpoint; without them
 * rows run as they are.
 */
async function checkpoint(system) {
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    const { rows } = await system.sql.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
    );
    if (rows[0].n === 0) break;
    await sleep(100);
  }
  await system.sql.query("CHECKPOINT").catch(() => {});
}

/** Drains a pre-filled queue of DRAIN jobs in a worker process, timed inside that process. */
async function drainInChild(name, variant, concurrency) {
  systems[name].useVariant?.(variant);
  await fill(systems[name], DRAIN);
  systems[name].useVariant?.();
  const result = await inChild(name, variant, concurrency, DRAIN);
  return { rate: result.done / (result.elapsed / 1000), ...result };
}

/**
 * Enqueue and drain at once: DRAIN jobs in bulk calls of E2E_BATCH from E2E_PRODUCERS concurrent
 * producers in this process, while a worker process at E2E_CONCURRENCY drains them. Timed here, from
 * the first enqueue (the worker is already running) until the worker process reports every job
 * finished in the database.
 */
async function endToEnd(name, variant) {
  const system = systems[name];
  await system.reset();
  await checkpoint(system);
  let t0;
  let enqueued;
  system.useVariant?.(variant);
  const result = await inChild(name, variant, E2E_CONCURRENCY, DRAIN, async () => {
    t0 = performance.now();
    let left = DRAIN;
    const producer = async () => {
      while (left > 0) {
        const size = Math.min(E2E_BATCH, left);
        left -= size;
        await system.bulk(size);
      }
    };
    await Promise.all(Array.from({ length: E2E_PRODUCERS }, producer));
    enqueued = performance.now() - t0;
  });
  const elapsed = performance.now() - t0;
  system.useVariant?.();
  await system.reset();
  return {
    rate: result.done / (elapsed / 1000),
    elapsed,
    enqueued,
    done: result.done,
    capped: result.capped,
  };
}

/**
 * Runs bench/runner/compare-worker.mjs on `name`'s database until `expect` jobs are finished; calls
 * `whileRunning` once its worker has started. Returns the worker's result and its VmRSS at the end.
 */
async function inChild(name, variant, concurrency, expect, whileRunning = async () => {}) {
  const child = fork(
    path.join(here, "compare-worker.mjs"),
    [name, urls[name], String(concurrency), variant, String(expect), String(CAP_MS)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const next = inbox(child, name);
  try {
    await next("ready");
    child.send("go");
    await next("started");
    await whileRunning();
    const result = await next("result");
    const rss = await vmRss(child.pid);
    child.send("stop");
    await Promise.race([exited, sleep(10_000)]);
    return { ...result, rss };
  } finally {
    child.kill();
  }
}

/**
 * Buffers a child's messages, so none is lost while the parent is busy between two awaits; the
 * returned function resolves with the next message, which must be of the given type.
 */
function inbox(child, name) {
  const queue = [];
  let wake = () => {};
  let exitCode;
  child.on("message", (message) => {
    queue.push(message);
    wake();
  });
  child.once("exit", (code) => {
    exitCode = code;
    wake();
  });
  return async (type) => {
    while (queue.length === 0) {
      if (exitCode !== undefined) throw new Error(`${name} worker exited with ${exitCode}`);
      await new Promise((resolve) => {
        wake = resolve;
      });
    }
    const message = queue.shift();
    if (message.type === "error") throw new Error(`${name} worker: ${message.message}`);
    if (message.type !== type)
      throw new Error(`${name} worker: expected ${type}, got ${JSON.stringify(message)}`);
    return message;
  };
}

/** Two `reproq worker --concurrency 50` processes on one pre-filled queue. */
async function drainTwoProcesses() {
  const system = systems.reproq;
  await fill(system, DRAIN);
  const t0 = performance.now();
  const workers = [0, 1].map((k) =>
    spawnReproqWorker(["--concurrency", "50", "--dsn", urls.reproq, "--worker-id", `bench-${k}`]),
  );
  try {
    let pending;
    for (;;) {
      pending = await system.pending();
      if (pending === 0 || performance.now() - t0 > CAP_MS * 4) break;
      await sleep(50);
    }
    const wall = (performance.now() - t0) / 1000;
    const rss = await Promise.all(workers.map((w) => vmRss(w.child.pid)));
    const { rows } = await system.sql.query(
      `SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8 AS span FROM ${system.table}`,
    );
    const done = DRAIN - pending;
    return { rate: done / rows[0].span, wallRate: done / wall, done, rss };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** In-process drain (this process's Reproq worker) until `n` runs are SUCCESSFUL. */
async function drainHere(system, n, concurrency = 50) {
  const { elapsed } = await timedDrain({
    n,
    concurrency,
    finished: async () => (await system.pending()) === 0,
  });
  return n / (elapsed / 1000);
}

async function reproqFlow(system) {
  const backend = getBackend();
  const fillWith = async (make) => {
    await system.reset();
    for (let done = 0; done < FLOW_TASKS; done += BULK) {
      const size = Math.min(BULK, FLOW_TASKS - done);
      await backend.bulkEnqueue(Array.from({ length: size }, (_, k) => make(done + k)));
    }
    await system.analyze();
  };
  const offset = Date.now();

  await fillWith((i) => [noop, [`plain-${offset}-${i}`]]);
  const plain = await drainHere(system, FLOW_TASKS);

  await fillWith((i) => [
    noop,
    [`keyed-${offset}-${i}`],
    { concurrencyKey: `key-${i % KEYS}`, concurrencyLimit: 1 },
  ]);
  const keyed = await drainHere(system, FLOW_TASKS);

  await fillWith((i) => [flaky, [i]]);
  const retried = await drainHere(system, FLOW_TASKS);
  const { rows: attempts } = await system.sql.query(
    `SELECT count(*) FILTER (WHERE attempts > 1)::int AS retried, count(*)::int AS total FROM ${system.table} WHERE status = 'SUCCESSFUL'`,
  );

  // Rate limit: a backlog of twice what the window needs, a bucket of RATE/s with burst 1.
  await system.reset();
  const backlog = RATE * RATE_WINDOW_S * 2 + 100;
  await backend.bulkEnqueue(Array.from({ length: backlog }, (_, i) => [noop, [`rate-${offset}-${i}`]]));
  await system.analyze();
  await setRateLimit({ key: "queue:default", rate: RATE, burst: 1 });
  const worker = await runWorker({ config: { concurrency: 50 }, logger: false });
  try {
    for (;;) {
      const { rows } = await system.sql.query(
        `SELECT coalesce(now() >= min(started_at) + make_interval(secs => $1), false) AS done FROM ${system.table}`,
        [RATE_WINDOW_S + 0.5],
      );
      if (rows[0].done) break;
      await sleep(100);
    }
  } finally {
    await worker.stop();
    await deleteRateLimit("queue:default");
  }
  const { rows: window } = await system.sql.query(
    `WITH w AS (SELECT min(started_at) AS t0 FROM ${system.table})
     SELECT count(*)::int AS n FROM ${system.table} r, w
      WHERE r.started_at >= w.t0 AND r.started_at < w.t0 + make_interval(secs => $1)`,
    [RATE_WINDOW_S],
  );
  await system.reset();
  return {
    plain,
    keyed,
    retried,
    retriedRuns: attempts[0].retried,
    succeededRuns: attempts[0].total,
    startRate: window[0].n / RATE_WINDOW_S,
  };
}

// ---------------------------------------------------------------- reporting

function report() {
  const rows = [];
  const ratio = (a, b, lowerIsBetter = false) => {
    if (!(a > 0) || !(b > 0)) return "-";
    return `${(a / b).toFixed(2)}x${lowerIsBetter ? " (lower is better)" : ""}`;
  };
  const rate = (x) => `${fmt(x)}/s`;
  // A target cell: what was wanted, met or missed, and the ratio it was judged by.
  const judged = (wanted, ok, shown) => `${wanted}: ${ok ? "met" : "missed"} (${shown})`;
  const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "-");
  const mib = (b) => (b ? `${(b / 2 ** 20).toFixed(0)} MiB` : "?");
  const row = (measurement, r, g, p, target, { lower = false, show = rate } = {}) =>
    rows.push([
      measurement,
      r == null ? "-" : show(r),
      g == null ? "-" : show(g),
      g == null ? "-" : ratio(r, g, lower),
      p == null ? "-" : show(p),
      p == null ? "-" : ratio(r, p, lower),
      target,
    ]);
  const e = out.enqueue;
  const singleRatio = e.reproq?.single / e.graphile?.single;
  row(
    `enqueue one at a time, 1 producer (${fmt(SINGLE)} jobs)`,
    e.reproq?.single,
    e.graphile?.single,
    e.pgboss?.single,
    judged("Reproq ahead of graphile (ratio > 1)", singleRatio > 1, times(singleRatio)),
  );
  row(
    `enqueue one at a time, ${PRODUCERS} concurrent producers (${fmt(SINGLE)} jobs)`,
    e.reproq?.concurrent,
    e.graphile?.concurrent,
    e.pgboss?.concurrent,
    "-",
  );
  const bulkRatio = e.reproq?.bulk / e.graphile?.bulk;
  row(
    `bulk enqueue, ${fmt(BULK)} per call (median of ${BULK_CALLS})`,
    e.reproq?.bulk,
    e.graphile?.bulk,
    e.pgboss?.bulk,
    judged(
      `Reproq >= ${fmt(TARGET_BULK)}/s and >= ${TARGET_BULK_RATIO}x graphile addJobs`,
      e.reproq?.bulk >= TARGET_BULK && bulkRatio >= TARGET_BULK_RATIO,
      `${times(e.reproq?.bulk / TARGET_BULK)} of ${fmt(TARGET_BULK)}/s, ${times(bulkRatio)} graphile`,
    ),
  );
  const nd = e.reproqNoDedup;
  if (nd) {
    row(`- same, Reproq with \`dedupActive: false\``, nd.bulk, e.graphile?.bulk, e.pgboss?.bulk, "-");
  }
  const drainOf = (name, variant, concurrency) =>
    out.drain.find((d) => d.name === name && d.variant === variant && d.concurrency === concurrency);
  const drainCell = (d) =>
    d
      ? `${fmt(d.rate)}/s${d.capped ? ` (capped: ${fmt(d.done)} in ${(d.elapsed / 1000).toFixed(0)} s)` : ""}`
      : "-";
  for (const concurrency of [10, 100]) {
    const r = drainOf("reproq", "default", concurrency);
    const gb = drainOf("graphile", "batched", concurrency);
    const gd = drainOf("graphile", "defaults", concurrency);
    const pb = drainOf("pgboss", "default", concurrency);
    const drainRatio = r?.rate / gb?.rate;
    rows.push([
      `drain ${fmt(DRAIN)} no-op, one worker process, concurrency ${concurrency}`,
      drainCell(r),
      `${drainCell(gb)} (batched)`,
      ratio(r?.rate, gb?.rate),
      drainCell(pb),
      ratio(r?.rate, pb?.rate),
      judged(
        `Reproq >= ${TARGET_DRAIN_RATIO}x graphile batched`,
        drainRatio >= TARGET_DRAIN_RATIO,
        times(drainRatio),
      ),
    ]);
    const rn = drainOf("reproq", "nodedup", concurrency);
    if (rn) {
      rows.push([
        "- same, Reproq with `dedupActive: false` (runs enqueued without dedup keys)",
        drainCell(rn),
        `${drainCell(gb)} (batched)`,
        ratio(rn.rate, gb?.rate),
        drainCell(pb),
        ratio(rn.rate, pb?.rate),
        "-",
      ]);
    }
    rows.push([
      `- same, graphile-worker defaults`,
      drainCell(r),
      `${drainCell(gd)} (defaults)`,
      ratio(r?.rate, gd?.rate),
      "",
      "",
      "-",
    ]);
    rows.push([
      `- worker process CPU, concurrency ${concurrency} (% of one core)`,
      r ? `${r.cpu.toFixed(0)}%` : "-",
      `${gb ? `${gb.cpu.toFixed(0)}%` : "-"} / ${gd ? `${gd.cpu.toFixed(0)}%` : "-"}`,
      "",
      pb ? `${pb.cpu.toFixed(0)}%` : "-",
      "",
      "-",
    ]);
  }
  if (out.twoProcess) {
    const t = out.twoProcess;
    rows.push([
      `drain ${fmt(DRAIN)} no-op, two \`reproq worker --concurrency 50\` processes`,
      `${fmt(t.rate)}/s (first start to last finish; ${fmt(t.wallRate)}/s from spawn)`,
      "",
      "",
      "",
      "",
      "-",
    ]);
  }
  const reproq10 = drainOf("reproq", "default", 10);
  const graphile10 = drainOf("graphile", "batched", 10);
  for (const [key, how] of [
    ["delete", "completion deletes the jobs"],
    ["keep", "completion keeps each job and writes its result (an UPDATE)"],
  ]) {
    const d = out.drainFloor[key];
    if (!d) continue;
    const needed = graphile10 ? graphile10.rate * TARGET_DRAIN_RATIO : 0;
    rows.push([
      `- raw-SQL drain floor (pg driver, no queue library): ${d.connections} connections each claiming up to ${d.batch} with SKIP LOCKED, ${how}; ${fmt(d.jobs)} jobs`,
      `${fmt(d.rate)}/s (floor)`,
      "",
      "",
      "",
      "",
      `Reproq at concurrency 10 / floor: ${reproq10 ? (reproq10.rate / d.rate).toFixed(2) : "-"}; floor / (${TARGET_DRAIN_RATIO}x graphile batched): ${needed ? (d.rate / needed).toFixed(2) : "-"}`,
    ]);
  }
  const floor = out.floor?.throughput;
  if (floor) {
    const e2e = out.e2e;
    // How long the enqueue side took shows whether the producers or the worker set the pace.
    const e2eCell = (d) =>
      d
        ? `${fmt(d.rate)}/s (enqueued in ${(d.enqueued / 1000).toFixed(2)} s, drained in ${(d.elapsed / 1000).toFixed(2)} s${d.capped ? `; capped: ${fmt(d.done)} done` : ""})`
        : "-";
    const share = e2e.reproq ? e2e.reproq.rate / floor.rate : 0;
    const e2eRatio = e2e.reproq?.rate / e2e.graphile?.rate;
    rows.push([
      `enqueue + drain end to end, ${fmt(DRAIN)} no-op: ${E2E_PRODUCERS} producers enqueue in bulk calls of ${E2E_BATCH} while one worker process at concurrency ${E2E_CONCURRENCY} drains`,
      e2eCell(e2e.reproq),
      `${e2eCell(e2e.graphile)} (batched)`,
      ratio(e2e.reproq?.rate, e2e.graphile?.rate),
      e2eCell(e2e.pgboss),
      ratio(e2e.reproq?.rate, e2e.pgboss?.rate),
      judged(
        `Reproq >= ${TARGET_E2E_RATIO}x graphile batched`,
        e2eRatio >= TARGET_E2E_RATIO,
        times(e2eRatio),
      ),
    ]);
    if (e2e.reproqNoDedup) {
      rows.push([
        "- same, Reproq with `dedupActive: false`",
        e2eCell(e2e.reproqNoDedup),
        `${e2eCell(e2e.graphile)} (batched)`,
        ratio(e2e.reproqNoDedup.rate, e2e.graphile?.rate),
        e2eCell(e2e.pgboss),
        ratio(e2e.reproqNoDedup.rate, e2e.pgboss?.rate),
        `Reproq end to end / floor: ${(e2e.reproqNoDedup.rate / floor.rate).toFixed(2)}`,
      ]);
    }
    rows.push([
      `- raw-SQL floor (pg driver, no queue library): ${floor.connections} connections each looping insert ${floor.batch}, claim up to ${floor.batch} with SKIP LOCKED, delete them; ${fmt(floor.jobs)} jobs`,
      `${fmt(floor.rate)}/s (floor)`,
      "",
      "",
      "",
      "",
      `Reproq end to end / floor: ${share.toFixed(2)}`,
    ]);
  }
  const lat = out.latency;
  const latCell = (l) => (l ? `${l.p.map(ms).join(" / ")}${l.n < SAMPLES ? ` (${l.n} samples)` : ""}` : "-");
  const lr = lat["reproq/default"];
  const lg = lat["graphile/batched"];
  const ld = lat["graphile/defaults"];
  const lp = lat["pgboss/default"];
  // Against the better of graphile-worker's two settings, percentile by percentile.
  const graphileBest = (i) =>
    Math.min(lg?.p[i] ?? Number.POSITIVE_INFINITY, ld?.p[i] ?? Number.POSITIVE_INFINITY);
  const p50Ratio = lr?.p[0] / graphileBest(0);
  const p99Ratio = lr?.p[2] / graphileBest(2);
  rows.push([
    `enqueue-to-start latency p50 / p95 / p99 (${fmt(SAMPLES)} sequential, idle worker)`,
    latCell(lr),
    `${latCell(lg)} (batched)`,
    ratio(lr?.p[0], lg?.p[0], true),
    latCell(lp),
    ratio(lr?.p[0], lp?.p[0], true),
    judged(
      "Reproq p50 and p99 <= graphile's (the better of its two settings)",
      p50Ratio <= 1 && p99Ratio <= 1,
      `p50 ${times(p50Ratio)}, p99 ${times(p99Ratio)}`,
    ),
  ]);
  rows.push([
    "- same, graphile-worker defaults",
    latCell(lr),
    `${latCell(ld)} (defaults)`,
    ratio(lr?.p[0], ld?.p[0], true),
    "",
    "",
    "-",
  ]);
  const fl = out.floor?.latency;
  if (fl) {
    rows.push([
      "- raw-SQL floor: insert + pg_notify in one statement, a LISTENing connection claims on the notification",
      `${latCell(fl)} (floor)`,
      "",
      "",
      "",
      "",
      `Reproq p50 / floor p50: ${lr ? (lr.p[0] / fl.p[0]).toFixed(2) : "-"}`,
    ]);
  }
  const rssOf = (name, variant) => drainOf(name, variant, 100)?.rss;
  const rr = rssOf("reproq", "default");
  rows.push([
    "worker process VmRSS after the drain at concurrency 100",
    mib(rr),
    `${mib(rssOf("graphile", "batched"))} (batched) / ${mib(rssOf("graphile", "defaults"))} (defaults)`,
    ratio(rr, rssOf("graphile", "batched"), true),
    mib(rssOf("pgboss", "default")),
    ratio(rr, rssOf("pgboss", "default"), true),
    judged(
      `Reproq < ${TARGET_RSS_MB} MB`,
      rr > 0 && rr < TARGET_RSS_MB * 1e6,
      `${times(rr / (TARGET_RSS_MB * 1e6))} of ${TARGET_RSS_MB} MB`,
    ),
  ]);
  if (out.twoProcess) {
    rows.push([
      "- VmRSS of each `reproq worker --concurrency 50` after the two-process drain",
      out.twoProcess.rss.map(mib).join(", "),
      "",
      "",
      "",
      "",
      "-",
    ]);
  }
  const f = out.flow;
  if (f) {
    const only = (measurement, value, target = "-") =>
      rows.push([measurement, value, "n/a", "", "n/a", "", target]);
    const slowdown = f.plain / f.keyed;
    const retryCost = 1 - f.retried / f.plain;
    only(
      `Reproq only: drain ${fmt(FLOW_TASKS)} no-op, in-process worker, concurrency 50, no keys`,
      rate(f.plain),
    );
    only(
      `Reproq only: same on ${fmt(KEYS)} concurrency keys (limit 1 each, interleaved)`,
      `${rate(f.keyed)} (${(f.keyed / f.plain).toFixed(2)}x unkeyed)`,
      judged(
        `keyed within ${TARGET_KEYED_SLOWDOWN}x of unkeyed`,
        slowdown <= TARGET_KEYED_SLOWDOWN,
        `unkeyed / keyed ${times(slowdown)}`,
      ),
    );
    only(
      `Reproq only: drain ${fmt(FLOW_TASKS)}, 10% fail their first attempt (retry after 10 ms)`,
      `${rate(f.retried)} (${fmt(f.retriedRuns)} of ${fmt(f.succeededRuns)} succeeded on a retry)`,
      judged(
        `costs < ${TARGET_RETRY_COST * 100}% of the drain rate`,
        retryCost < TARGET_RETRY_COST,
        `${(retryCost * 100).toFixed(1)}% slower: ${times(f.retried / f.plain)} the rate without failures`,
      ),
    );
    only(
      `Reproq only: start rate with queue rate limit ${RATE}/s, burst 1, ${RATE_WINDOW_S} s window`,
      `${f.startRate.toFixed(1)}/s (${((f.startRate / RATE - 1) * 100).toFixed(1)}%)`,
    );
  }

  const lines = [
    `# Reproq vs graphile-worker vs pg-boss${quick ? " (quick)" : ""}`,
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${machine()}; load average before ${loadBefore}, after ${loadAverage()}`,
    `- node: ${process.version}; pg (node-postgres) ${versions.pg}`,
    `- database: ${srv.where}; ${info?.version ?? "?"}`,
    `- durability: fsync=${info?.fsync}, synchronous_commit=${info?.synchronousCommit}; shared_buffers=${info?.sharedBuffers}`,
    `- versions: reproq ${versions.reproq}, graphile-worker ${versions.graphile}, pg-boss ${versions.pgboss}`,
    `- Reproq: ${VARIANTS.reproq.default}`,
    `- Reproq secondary rows: ${VARIANTS.reproq.nodedup}`,
    `- graphile-worker batched: ${VARIANTS.graphile.batched}`,
    `- graphile-worker defaults: ${VARIANTS.graphile.defaults}`,
    `- pg-boss: ${VARIANTS.pgboss.default}; createQueue before send`,
    `- raw-SQL floor: a plain table (bigserial id, jsonb payload, run_at, locked_by/locked_at) in its own database; ${E2E_PRODUCERS} connections, autocommit statements, claim with \`UPDATE ... WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED))\`, delete with \`id = ANY($1)\` (the results-kept drain floor: \`UPDATE ... SET finished_at, result WHERE id = ANY($1)\`)`,
    `- method: each system in its own fresh database on the same server; drains in a separate worker process per system, queue filled with bulk calls of ${fmt(BULK)} then VACUUM (ANALYZE), each timed row started once no autovacuum worker is busy and after a CHECKPOINT, timed from starting the worker until no unfinished job is left in the database, capped at ${CAP_MS / 1000} s; end to end: worker process started on an empty queue, then timed from the first enqueue until it sees no unfinished job; latency on a worker at concurrency 10, probes one after another, stopped after ${PROBE_BUDGET_MS / 1000} s`,
    "",
    "| measurement | Reproq | graphile-worker | Reproq / graphile | pg-boss | Reproq / pg-boss | target |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    "Ratios are Reproq / peer: above 1 is better for rates; for latency and memory lower is better.",
    "",
  ];
  return `${lines.join("\n")}\n`;
}
