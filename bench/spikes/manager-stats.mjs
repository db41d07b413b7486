// What the manager API's `GET stats/` document costs on a large table (`npm run bench:manager-stats`):
// a scratch database migrated with `reproq migrate`, filled with raw SQL (rows shaped like the ones
// enqueue() and a worker write, as bench/runner/growth.mjs fills them) with FINISHED finished runs
// (SUCCESSFUL, and one in a thousand FAILED across 20 task paths) and READY runs on 4 queues, then
// getManagerStats() timed ROUNDS times, and each of its statements explained.
//
//   npm run bench:manager-stats                          # 1,000,000 finished + 10,000 READY
//   node bench/spikes/manager-stats.mjs --finished=100000 --ready=1000 --rounds=5
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { loadConfig } from "../../dist/index.js";
import { getManagerStats } from "../../dist/ops/manager-stats.js";
import { fmt, machine, median, numericFlag, openServer, revision } from "../runner/lib.mjs";

const FINISHED = numericFlag("finished", 1_000_000);
const READY = numericFlag("ready", 10_000);
const ROUNDS = numericFlag("rounds", 7);
const BIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

const server = await openServer({ dataDir: ".reproq/bench-pg", prefix: "reproq_mgrstats_" });
const url = await server.createDatabase(randomBytes(4).toString("hex"));
const pool = new pg.Pool({ connectionString: url, max: 1 });
// Dropping the scratch database at the end ends its connections; that is not an error of the bench.
pool.on("error", () => {});
try {
  execFileSync(process.execPath, [BIN, "--dsn", url, "migrate"], { stdio: "ignore" });
  const t = '"reproq".task_runs';
  const fill = async (count, status, queueCount, offset) => {
    const done = status !== "READY";
    await pool.query(
      `INSERT INTO ${t} (queue_name, spec_json, spec_hash, dedup_key, task_path, status, enqueued_at, started_at,
                         last_attempted_at, finished_at, attempts, worker_ids, return_json, provenance_json, updated_at)
       SELECT 'q' || (g % $4), jsonb_build_object('v', 1, 'args', jsonb_build_array(g), 'task_path', 'bench.noop'),
              encode(sha256(('fill:' || g)::bytea), 'hex'),
              CASE WHEN $3::boolean THEN NULL ELSE encode(sha256(('fill:' || g)::bytea), 'hex') END,
              CASE WHEN $3 AND g % 1000 = 0 THEN 'bench.failing.' || (g / 1000 % 20) ELSE 'bench.noop' END,
              CASE WHEN $3 AND g % 1000 = 0 THEN 'FAILED' ELSE $5::text END,
              now() - interval '1 hour', CASE WHEN $3 THEN now() - interval '59 minutes' END,
              CASE WHEN $3 THEN now() - interval '59 minutes' END, CASE WHEN $3 THEN now() - interval '58 minutes' END,
              CASE WHEN $3 THEN 1 ELSE 0 END, CASE WHEN $3 THEN ARRAY['bench-host:4242:0f3c'] ELSE '{}' END,
              CASE WHEN $3 THEN 'null'::jsonb END,
              jsonb_build_object('code_ref', repeat('c', 40), 'reproq_version', '0.1.0'), now()
         FROM generate_series($1::bigint, $2::bigint) g`,
      [offset + 1, offset + count, done, queueCount, status],
    );
  };
  const t0 = performance.now();
  await fill(FINISHED, "SUCCESSFUL", 4, 0);
  await fill(READY, "READY", 4, FINISHED);
  await pool.query(`VACUUM (ANALYZE) ${t}`);
  const fillS = ((performance.now() - t0) / 1000).toFixed(1);

  const config = (await loadConfig({ env: {} })).values;
  const times = [];
  let doc;
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    doc = await getManagerStats(pool, "reproq", config);
    times.push(performance.now() - start);
  }

  // The statements behind it, one by one (the two that read task_runs matter; the rest are small tables).
  const explain = async (label, text) => {
    const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`);
    const plan = rows[0]["QUERY PLAN"][0];
    const shared = (plan.Plan["Shared Hit Blocks"] ?? 0) + (plan.Plan["Shared Read Blocks"] ?? 0);
    return `| ${label} | ${plan["Execution Time"].toFixed(1)} ms | ${fmt(shared)} |`;
  };
  const lines = [
    `# getManagerStats on ${fmt(FINISHED)} finished + ${fmt(READY)} READY runs`,
    "",
    `- ${revision()}; ${machine()}; ${server.where}`,
    `- filled and vacuumed in ${fillS} s; ${ROUNDS} rounds`,
    `- getManagerStats: median ${median(times).toFixed(1)} ms, min ${Math.min(...times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`,
    `- document: ${Object.keys(doc.queues).length} queues, tasks ${JSON.stringify(doc.tasks)}, top_failing ${doc.top_failing.length}`,
    "",
    "| statement | time | buffers |",
    "| --- | --- | --- |",
    await explain(
      "counts by queue and status (getStats)",
      `SELECT queue_name, status, count(*)::int AS count,
              (extract(epoch FROM now() - min(run_after) FILTER (WHERE status = 'READY' AND run_after <= now())) * 1000)::float8
         FROM ${t} GROUP BY queue_name, status`,
    ),
    await explain(
      "top failing task paths",
      `SELECT coalesce(task_path, '') AS task_path, count(*)::int FROM ${t} WHERE status = 'FAILED'
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5`,
    ),
    await explain(
      "expired leases (getStats)",
      `SELECT count(*)::int FROM ${t} WHERE status = 'RUNNING' AND leased_until < now()`,
    ),
  ];
  console.log(lines.join("\n"));
} finally {
  await pool.end();
  await server.close();
}
