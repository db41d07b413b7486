// What the indexes on task_runs cost a run's claim and settle, measured on copies of the real table
// (its columns, defaults, CHECKs and the three AFTER UPDATE OF status triggers) that differ only in
// their indexes. Each copy is filled with realistic rows (a spec and a provenance of Reproq's
// size), then one connection claims 1,000 at a time (FOR UPDATE SKIP LOCKED, the claim's SET list,
// synchronous_commit off) and settles them as SUCCESSFUL (the settle's SET list, fenced by lease
// token) until none is left. The statements are plain SQL shaped like claim_runs()' fast path and
// settle_runs()' UPDATE, so the difference between two rows is the indexes alone.
//
//   npm run bench:indexes                   # 30,000 runs per copy, median of 3 rounds (about 1 min)
//   node bench/spikes/index-costs.mjs --runs=50000 --rounds=5
import { fmt, machine, median, numericFlag, revision } from "../runner/lib.mjs";
import { openReproqDatabase } from "../runner/reproq-db.mjs";
import { shippedDefinitions } from "./shipped-table.mjs";

const RUNS = numericFlag("runs", 30_000);
const ROUNDS = numericFlag("rounds", 3);
const BATCH = 1_000;

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-pg", prefix: "reproq_indexes_" });
const { sql, table } = bench;
const T = table.replace(/task_runs$/, "index_costs");

// The shipped table's own definitions, read from the migrated schema (bench/spikes/shipped-table.mjs).
const {
  indexes: INDEXES,
  triggers: TRIGGERS,
  fillfactor: SHIPPED_FILLFACTOR,
} = await shippedDefinitions(sql, table, T, "index_costs_");
const ALL = Object.keys(INDEXES);
const without = (...names) => {
  for (const name of names) if (!ALL.includes(name)) throw new Error(`task_runs has no index "${name}"`);
  return ALL.filter((n) => !names.includes(n));
};
const VARIANTS = [
  { label: `as shipped (fillfactor ${SHIPPED_FILLFACTOR})`, indexes: ALL },
  { label: "without the lease index", indexes: without("lease") },
  { label: "without the dedup index", indexes: without("dedup_active") },
  {
    label: "without the lease, dedup, finished and expiry indexes",
    indexes: without("lease", "dedup_active", "finished", "expiry"),
  },
  {
    // No index mentions status or any column a settle writes: a settle can be a HOT update when
    // its page has room (fillfactor 50 leaves it).
    label: "no index on status (claim index on a `ready` flag), fillfactor 50",
    indexes: ["parent", "workflow"].filter((n) => ALL.includes(n)),
    readyFlag: true,
    fillfactor: 50,
  },
];

async function build(variant) {
  await sql.query(`DROP TABLE IF EXISTS ${T}`);
  await sql.query(`CREATE TABLE ${T} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)
                   WITH (fillfactor = ${variant.fillfactor ?? SHIPPED_FILLFACTOR})`);
  await sql.query(`ALTER TABLE ${T} ADD PRIMARY KEY (result_id)`);
  if (variant.readyFlag) {
    await sql.query(`ALTER TABLE ${T} ADD COLUMN ready boolean NOT NULL DEFAULT true`);
    await sql.query(`CREATE INDEX ON ${T} (queue_name, priority DESC, run_after, result_id) WHERE ready`);
  }
  for (const name of variant.indexes) await sql.query(INDEXES[name]);
  for (const def of TRIGGERS) await sql.query(def);
  // Rows of a no-op run's size: a spec of about 230 bytes, a provenance of about 250.
  await sql.query(`INSERT INTO ${T} (queue_name, spec_json, spec_hash, dedup_key, task_path, provenance_json)
    SELECT 'default', s.spec, s.hash, s.hash, 'bench.noop',
           jsonb_build_object('host', 'bench-host', 'pid', 4242, 'revision', repeat('a', 40), 'app', 'bench',
                              'enqueued_at', '2026-11-24T00:00:00Z', 'note', repeat('p', 120))
      FROM generate_series(1, ${RUNS}) g,
           LATERAL (SELECT jsonb_build_object('task', 'bench.noop', 'args', jsonb_build_array(g), 'kwargs', '{}'::jsonb,
                                              'queue', 'default', 'priority', 0, 'options', jsonb_build_object('x', repeat('o', 100))) AS spec,
                           encode(sha256(g::text::bytea), 'hex') AS hash) s`);
  await sql.query(`VACUUM (ANALYZE) ${T}`);
  await sql.query("CHECKPOINT").catch(() => {});
}

async function hotUpdates() {
  try {
    await sql.query("SELECT pg_stat_force_next_flush()");
    await sql.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await sql.query(
      `SELECT n_tup_upd::bigint AS upd, n_tup_hot_upd::bigint AS hot FROM pg_stat_user_tables WHERE relid = '${T}'::regclass`,
    );
    return { upd: Number(rows[0].upd), hot: Number(rows[0].hot) };
  } catch {
    return null; // before PostgreSQL 15 (no pg_stat_force_next_flush): not reported
  }
}

async function cycle(variant, round) {
  const ready = variant.readyFlag ? "r.ready" : "r.status = 'READY'";
  const claim = {
    name: `index-costs-claim-${round}-${VARIANTS.indexOf(variant)}`,
    text: `WITH cand AS MATERIALIZED (
        SELECT r.result_id FROM ${T} r
         WHERE ${ready} AND r.queue_name = 'default' AND r.run_after <= now()
           AND (r.expires_at IS NULL OR r.expires_at > now())
         ORDER BY r.priority DESC, r.run_after, r.result_id LIMIT $1 FOR UPDATE SKIP LOCKED)
      UPDATE ${T} r
         SET status = 'RUNNING', attempts = r.attempts + 1, started_at = coalesce(r.started_at, now()),
             last_attempted_at = now(), leased_by = 'bench', leased_until = now() + interval '60 s',
             lease_token = gen_random_uuid(), worker_ids = array_append(r.worker_ids, 'bench'),
             updated_at = now()${variant.readyFlag ? ", ready = false" : ""}
       WHERE r.result_id = ANY(ARRAY(SELECT result_id FROM cand))
   RETURNING r.result_id, r.lease_token, r.spec_json -> 'args' AS args`,
  };
  const settle = {
    name: `index-costs-settle-${round}-${VARIANTS.indexOf(variant)}`,
    text: `UPDATE ${T} r
         SET status = 'SUCCESSFUL', finished_at = now(), return_json = 'null', leased_by = NULL,
             leased_until = NULL, lease_token = NULL, updated_at = now()
        FROM unnest($1::bigint[], $2::uuid[]) AS u(id, token)
       WHERE r.result_id = ANY($1) AND r.result_id = u.id AND r.lease_token = u.token
         AND coalesce(r.status, '') = 'RUNNING'`,
  };
  const before = await hotUpdates();
  let claiming = 0;
  let settling = 0;
  let done = 0;
  await sql.query("SET enable_nestloop = off"); // as settle_runs() plans its UPDATE (migration 9)
  for (;;) {
    let t = performance.now();
    await sql.query("BEGIN");
    await sql.query("SET LOCAL synchronous_commit = off");
    const { rows } = await sql.query({ ...claim, values: [BATCH] });
    await sql.query("COMMIT");
    claiming += performance.now() - t;
    if (rows.length === 0) break;
    t = performance.now();
    const settled = await sql.query({
      ...settle,
      values: [rows.map((r) => r.result_id), rows.map((r) => r.lease_token)],
    });
    settling += performance.now() - t;
    if (settled.rowCount !== rows.length) throw new Error(`settled ${settled.rowCount} of ${rows.length}`);
    done += rows.length;
  }
  await sql.query("RESET enable_nestloop");
  if (done !== RUNS) throw new Error(`claimed ${done} of ${RUNS} runs`);
  const after = await hotUpdates();
  // Claims are never HOT (they change the claim index's predicate column): the HOT updates are settles.
  const hotShare = before && after ? (after.hot - before.hot) / RUNS : null;
  return { claim: (claiming * 1000) / RUNS, settle: (settling * 1000) / RUNS, hotShare };
}

try {
  const results = VARIANTS.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, variant] of VARIANTS.entries()) {
      await build(variant);
      results[i].push(await cycle(variant, round));
    }
  }
  console.log(
    `# What task_runs' indexes cost a claim and a settle (${fmt(RUNS)} runs, median of ${ROUNDS})\n`,
  );
  console.log(`- machine: ${machine()}`);
  console.log(`- revision: ${revision()}`);
  for (const line of bench.describe()) console.log(line);
  console.log(
    "\n| copy of task_runs | claim (us/run) | settle (us/run) | claim + settle | settles that were HOT |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const [i, variant] of VARIANTS.entries()) {
    const pick = (f) => median(results[i].map(f));
    const hot = pick((r) => r.hotShare ?? Number.NaN);
    console.log(
      `| ${variant.label} | ${pick((r) => r.claim).toFixed(1)} | ${pick((r) => r.settle).toFixed(1)} | ${pick((r) => r.claim + r.settle).toFixed(1)} | ${Number.isNaN(hot) ? "?" : `${(hot * 100).toFixed(0)}%`} |`,
    );
  }
} finally {
  await sql.query(`DROP TABLE IF EXISTS ${T}`).catch(() => {});
  await bench.close();
}
