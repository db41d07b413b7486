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
//    (bench/compare-worker.mjs, timed inside it from starting the worker until every job is
//    finished in the database), and for Reproq two `reproq worker --concurrency 50` processes;
// 3. enqueue-to-start latency over sequential jobs on an idle worker (concurrency 10);
// 4. VmRSS of the worker process after the drain at concurrency 100;
// then Reproq-only rows: 1,000 concurrency keys, a rate limit, retries where 10% of runs fail once.
//
// Uses DATABASE_URL's server when set, else an embedded PostgreSQL in .reproq/bench-compare-pg
// with default durability, so commits really wait for fsync.
import { fork, spawn } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { deleteRateLimit, getBackend, runWorker, setRateLimit } from "../dist/index.js";
import { openSystem, SYSTEMS, VARIANTS } from "./compare-systems.mjs";
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
  vmRss,
} from "./lib.mjs";
import { flaky, noop } from "./noop-tasks.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
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

const TARGET_DRAIN_RATIO = 1.5;
const TARGET_BULK = 100_000;
const TARGET_RSS_MB = 150;

const require = createRequire(import.meta.url);
const versionOf = (name) => require(`${name}/package.json`).version;
const versions = {
  reproq: `${require("../package.json").version} (${revision()})`,
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
const out = { enqueue: {}, drain: [], twoProcess: null, latency: {}, flow: null };
let info;

try {
  for (const name of SYSTEMS) {
    urls[name] = await srv.createDatabase(name);
    systems[name] = await openSystem(name, urls[name]);
  }
  info = await serverInfo(systems.reproq.sql);

  // ---- 1. enqueue rates
  for (const name of SYSTEMS) {
    log(`enqueue: ${name}`);
    out.enqueue[name] = await enqueueRates(systems[name]);
  }

  // ---- 2. drains, systems alternating at each concurrency
  for (const concurrency of [10, 100]) {
    for (const [name, variant] of [
      ["reproq", "default"],
      ["graphile", "batched"],
      ["graphile", "defaults"],
      ["pgboss", "default"],
    ]) {
      log(`drain: ${name} ${variant} concurrency ${concurrency}`);
      out.drain.push({ name, variant, concurrency, ...(await drainInChild(name, variant, concurrency)) });
    }
  }
  if (TWO_PROCESSES) {
    log("drain: reproq, two worker processes");
    out.twoProcess = await drainTwoProcesses();
  }

  // ---- 3. latency on idle workers
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

  const bulk = [];
  for (let k = 0; k < BULK_CALLS; k++) {
    await system.reset();
    t0 = performance.now();
    await system.bulk(BULK);
    bulk.push(BULK / ((performance.now() - t0) / 1000));
  }
  await system.reset();
  return { single, concurrent, bulk: median(bulk), bulkRuns: bulk };
}

/** Empties the system's table, fills it with `n` no-op jobs in calls of BULK, and analyzes it. */
async function fill(system, n) {
  await system.reset();
  for (let done = 0; done < n; done += BULK) await system.bulk(Math.min(BULK, n - done));
  await system.analyze();
}

async function drainInChild(name, variant, concurrency) {
  await fill(systems[name], DRAIN);
  const child = fork(
    path.join(here, "compare-worker.mjs"),
    [name, urls[name], String(concurrency), variant, String(DRAIN), String(CAP_MS)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const next = () =>
    new Promise((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`${name} worker exited with ${code}`)));
    });
  try {
    const ready = await next();
    if (ready.type !== "ready") throw new Error(`unexpected ${JSON.stringify(ready)}`);
    child.send("go");
    const result = await next();
    if (result.type !== "result") throw new Error(`${name} worker: ${result.message}`);
    const rss = await vmRss(child.pid);
    child.send("stop");
    await Promise.race([exited, sleep(10_000)]);
    return { rate: result.done / (result.elapsed / 1000), ...result, rss };
  } finally {
    child.kill();
  }
}

/** Two `reproq worker --concurrency 50` processes on one pre-filled queue. */
async function drainTwoProcesses() {
  const system = systems.reproq;
  await fill(system, DRAIN);
  const cli = path.join(root, "dist/cli/main.js");
  const tasks = path.join(here, "noop-tasks.mjs");
  const t0 = performance.now();
  const children = [0, 1].map((k) =>
    spawn(
      process.execPath,
      [
        cli,
        "worker",
        "--tasks",
        tasks,
        "--concurrency",
        "50",
        "--dsn",
        urls.reproq,
        "--worker-id",
        `bench-${k}`,
      ],
      { cwd: os.tmpdir(), stdio: ["ignore", "ignore", "pipe"] },
    ),
  );
  // The workers' JSON log lines go to stderr: kept, and shown only if a worker exits with an error.
  for (const c of children) {
    const chunks = [];
    c.stderr.on("data", (chunk) => chunks.push(chunk));
    c.once("exit", (code, signal) => {
      if (code && signal !== "SIGTERM") process.stderr.write(Buffer.concat(chunks));
    });
  }
  const exits = children.map((c) => new Promise((resolve) => c.once("exit", resolve)));
  try {
    let pending;
    for (;;) {
      pending = await system.pending();
      if (pending === 0 || performance.now() - t0 > CAP_MS * 4) break;
      await sleep(50);
    }
    const wall = (performance.now() - t0) / 1000;
    const rss = await Promise.all(children.map((c) => vmRss(c.pid)));
    const { rows } = await system.sql.query(
      `SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8 AS span FROM ${system.table}`,
    );
    const done = DRAIN - pending;
    return { rate: done / rows[0].span, wallRate: done / wall, done, rss };
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.race([Promise.all(exits), sleep(15_000)]);
  }
}

/** In-process drain (this process's Reproq worker) until `n` runs are SUCCESSFUL. */
async function drainHere(system, n, concurrency = 50) {
  let seen = 0;
  let allSeen;
  const everything = new Promise((resolve) => {
    allSeen = resolve;
  });
  const t0 = performance.now();
  const worker = await runWorker({ config: { concurrency }, logger: false });
  worker.on("succeeded", () => {
    if (++seen >= n) allSeen();
  });
  await everything;
  while ((await system.pending()) > 0) await sleep(5);
  const elapsed = performance.now() - t0;
  await worker.stop();
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
  row(
    `enqueue one at a time, 1 producer (${fmt(SINGLE)} jobs)`,
    e.reproq?.single,
    e.graphile?.single,
    e.pgboss?.single,
    "-",
  );
  row(
    `enqueue one at a time, ${PRODUCERS} concurrent producers (${fmt(SINGLE)} jobs)`,
    e.reproq?.concurrent,
    e.graphile?.concurrent,
    e.pgboss?.concurrent,
    "-",
  );
  const bulkTarget = e.reproq?.bulk >= TARGET_BULK ? "met" : "missed";
  row(
    `bulk enqueue, ${fmt(BULK)} per call (median of ${BULK_CALLS})`,
    e.reproq?.bulk,
    e.graphile?.bulk,
    e.pgboss?.bulk,
    `Reproq >= ${fmt(TARGET_BULK)}/s: ${bulkTarget}`,
  );
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
    const met = r && gb && r.rate / gb.rate >= TARGET_DRAIN_RATIO ? "met" : "missed";
    rows.push([
      `drain ${fmt(DRAIN)} no-op, one worker process, concurrency ${concurrency}`,
      drainCell(r),
      `${drainCell(gb)} (batched)`,
      ratio(r?.rate, gb?.rate),
      drainCell(pb),
      ratio(r?.rate, pb?.rate),
      `Reproq >= ${TARGET_DRAIN_RATIO}x graphile batched: ${met}`,
    ]);
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
  const lat = out.latency;
  const latCell = (l) => (l ? `${l.p.map(ms).join(" / ")}${l.n < SAMPLES ? ` (${l.n} samples)` : ""}` : "-");
  const lr = lat["reproq/default"];
  const lg = lat["graphile/batched"];
  const ld = lat["graphile/defaults"];
  const lp = lat["pgboss/default"];
  const p50met =
    lr && lg && lr.p[0] <= Math.min(lg.p[0], ld?.p[0] ?? Number.POSITIVE_INFINITY) ? "met" : "missed";
  rows.push([
    `enqueue-to-start latency p50 / p95 / p99 (${fmt(SAMPLES)} sequential, idle worker)`,
    latCell(lr),
    `${latCell(lg)} (batched)`,
    ratio(lr?.p[0], lg?.p[0], true),
    latCell(lp),
    ratio(lr?.p[0], lp?.p[0], true),
    `Reproq p50 <= graphile's: ${p50met}`,
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
  const rssOf = (name, variant) => drainOf(name, variant, 100)?.rss;
  const rr = rssOf("reproq", "default");
  rows.push([
    "worker process VmRSS after the drain at concurrency 100",
    mib(rr),
    `${mib(rssOf("graphile", "batched"))} (batched) / ${mib(rssOf("graphile", "defaults"))} (defaults)`,
    ratio(rr, rssOf("graphile", "batched"), true),
    mib(rssOf("pgboss", "default")),
    ratio(rr, rssOf("pgboss", "default"), true),
    `Reproq < ${TARGET_RSS_MB} MB: ${rr && rr < TARGET_RSS_MB * 1e6 ? "met" : "missed"}`,
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
    const only = (measurement, value) => rows.push([measurement, value, "n/a", "", "n/a", "", "-"]);
    only(
      `Reproq only: drain ${fmt(FLOW_TASKS)} no-op, in-process worker, concurrency 50, no keys`,
      rate(f.plain),
    );
    only(
      `Reproq only: same on ${fmt(KEYS)} concurrency keys (limit 1 each, interleaved)`,
      `${rate(f.keyed)} (${(f.keyed / f.plain).toFixed(2)}x unkeyed)`,
    );
    only(
      `Reproq only: drain ${fmt(FLOW_TASKS)}, 10% fail their first attempt (retry after 10 ms)`,
      `${rate(f.retried)} (${fmt(f.retriedRuns)} of ${fmt(f.succeededRuns)} succeeded on a retry)`,
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
    `- graphile-worker batched: ${VARIANTS.graphile.batched}`,
    `- graphile-worker defaults: ${VARIANTS.graphile.defaults}`,
    `- pg-boss: ${VARIANTS.pgboss.default}; createQueue before send; no LISTEN/NOTIFY in pg-boss 10, so each work() loop fetches at most once per polling interval`,
    `- method: each system in its own fresh database on the same server; drains in a separate worker process per system, queue filled with bulk calls of ${fmt(BULK)} and ANALYZEd first, timed from starting the worker until no unfinished job is left in the database, capped at ${CAP_MS / 1000} s; latency on a worker at concurrency 10, probes one after another, pg-boss's stopped after ${PROBE_BUDGET_MS / 1000} s`,
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
