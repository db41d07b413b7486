// Candidate storage layouts for the run row, measured with raw SQL against a copy of the shipped
// task_runs: what a bulk enqueue, a claim and a settle cost PostgreSQL per run in each.
//
// - shipped: a copy of task_runs (columns, defaults, CHECKs, indexes, AFTER UPDATE triggers); the
//   claim and settle are UPDATEs of the one row, as claim_runs() and settle_runs() do.
// - split, HOT claim: active runs in a hot table whose indexes name no column a claim changes
//   (the claim index covers READY and RUNNING runs; the dedup key is unique over the whole table,
//   since every run in it is active), so a claim can be a HOT update: no index entry at all. A
//   settle moves the run into a results table (DELETE ... RETURNING into INSERT) in one statement,
//   fenced by (id, attempt, worker).
// - split, partial claim index: the same two tables with the claim index limited to READY runs,
//   as today: the claim is then a non-HOT update. Shows what HOT is worth on its own.
// - one table, HOT claim: the shipped table with indexes that name no column a claim changes:
//   the claim, dedup and expiry indexes cover unfinished runs (finished_at IS NULL, which only a
//   settle changes), finished runs are found by an `outcome` column a settle sets, and there is
//   no lease index (leases kept per worker). The claim can be HOT; the settle is not.
//
// Each layout is filled with rows of a no-op run's size (a spec of about 230 bytes, a provenance of
// about 250), then one connection claims BATCH at a time (FOR UPDATE SKIP LOCKED) and settles them
// as SUCCESSFUL until none is left. With --finished=N, N finished runs are present first (in the
// shipped copy, the same table; in the split layouts, the results table).
//
//   npm run build && node bench/spikes/lean-layout.mjs                  # 30,000 runs, median of 3
//   node bench/spikes/lean-layout.mjs --runs=50000 --finished=200000 --rounds=3
//   node bench/spikes/lean-layout.mjs --inflight=2000     # claims walk past 2,000 RUNNING runs
import { performance } from "node:perf_hooks";
import { fmt, machine, median, numericFlag, revision } from "../runner/lib.mjs";
import { openReproqDatabase } from "../runner/reproq-db.mjs";
import { shippedDefinitions } from "./shipped-table.mjs";

const RUNS = numericFlag("runs", 30_000);
const FINISHED = numericFlag("finished", 0);
const ROUNDS = numericFlag("rounds", 3);
const BATCH = numericFlag("batch", 1_000);
const ENQUEUE_BATCH = 5_000;
/** Runs claimed first and held RUNNING through the cycle (long tasks, buffered runs): claims walk past them. */
const INFLIGHT = numericFlag("inflight", 0);

const bench = await openReproqDatabase({ dataDir: ".reproq/bench-pg", prefix: "reproq_lean_" });
const { sql, table } = bench;
const schema = table.replace(/\.task_runs$/, "");
const COPY = `${schema}.lean_shipped`;
const HOT = `${schema}.lean_hot`;
const RESULTS = `${schema}.lean_results`;
const SEQ = `${schema}.lean_ids`;

// ---------------------------------------------------------------- the shipped table, copied

const shipped = await shippedDefinitions(sql, table, COPY, "lean_");
const SHIPPED_INDEXES = Object.values(shipped.indexes);
const SHIPPED_TRIGGERS = shipped.triggers;

/** Finished runs filled into the one-table copies before a cycle; `outcome` for the variant that has it. */
function fillFinishedCopy({ outcome }) {
  return sql.query(
    `INSERT INTO ${COPY} (queue_name, spec_json, spec_hash, task_path, provenance_json, status,
                          ${outcome ? "outcome, " : ""}finished_at, attempts, return_json)
      SELECT 'default', ${SPEC}, encode(sha256(('f' || g)::bytea), 'hex'), 'bench.noop', $1::jsonb,
             'SUCCESSFUL', ${outcome ? "'SUCCESSFUL', " : ""}now(), 1, 'null' FROM generate_series(1, ${FINISHED}) g`,
    [PROVENANCE],
  );
}

/** The one-table copies' enqueue (the same statement in both). */
const COPY_ENQUEUE = `INSERT INTO ${COPY} (queue_name, spec_json, spec_hash, dedup_key, task_path, provenance_json)
      SELECT 'default', u.spec::jsonb, u.hash, u.hash, 'bench.noop', $3::jsonb
        FROM unnest($1::text[], $2::text[]) AS u(spec, hash)
      ON CONFLICT DO NOTHING`;

/** The one-table copies' claim, as claim_runs()' fast path writes a run; `filter` narrows the candidates, `fence` is returned. */
function copyClaim({ filter, fence }) {
  return `WITH cand AS MATERIALIZED (
        SELECT r.result_id FROM ${COPY} r
         WHERE ${filter}r.status = 'READY' AND r.queue_name = 'default' AND r.run_after <= now()
           AND (r.expires_at IS NULL OR r.expires_at > now())
         ORDER BY r.priority DESC, r.run_after, r.result_id LIMIT $1 FOR UPDATE SKIP LOCKED)
      UPDATE ${COPY} r
         SET status = 'RUNNING', attempts = r.attempts + 1, started_at = coalesce(r.started_at, now()),
             last_attempted_at = now(), leased_by = 'bench', leased_until = now() + interval '60 s',
             lease_token = gen_random_uuid(), worker_ids = array_append(r.worker_ids, 'bench'),
             updated_at = now()
       WHERE r.result_id = ANY(ARRAY(SELECT result_id FROM cand))
   RETURNING r.result_id AS id, ${fence} AS fence, r.spec_json -> 'args' AS args`;
}

// ---------------------------------------------------------------- the split layouts

/** The columns an active run needs; the results table adds what a finished run records. */
const HOT_COLUMNS = `
  id                bigint      PRIMARY KEY,
  queue_name        text        NOT NULL,
  priority          integer     NOT NULL DEFAULT 0,
  run_after         timestamptz NOT NULL DEFAULT now(),
  status            text        NOT NULL DEFAULT 'READY',
  attempt           integer     NOT NULL DEFAULT 0,
  max_attempts      integer     NOT NULL DEFAULT 3,
  timeout_seconds   integer     NOT NULL DEFAULT 900,
  task_path         text        NOT NULL,
  spec_json         jsonb       NOT NULL,
  spec_hash         char(64)    NOT NULL,
  dedup_key         char(64),
  lock_key          text,
  concurrency_key   text,
  concurrency_limit integer     NOT NULL DEFAULT 0,
  expires_at        timestamptz,
  enqueued_at       timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  worker_id         text,
  provenance_json   jsonb       NOT NULL DEFAULT '{}'`;

function splitSchema({ partialClaim, fillfactor }) {
  return `
CREATE TABLE ${HOT} (${HOT_COLUMNS}) WITH (fillfactor = ${fillfactor});
CREATE INDEX lean_hot_claim ON ${HOT} (queue_name, priority DESC, run_after, id)${partialClaim ? " WHERE status = 'READY'" : ""};
CREATE UNIQUE INDEX lean_hot_dedup ON ${HOT} (dedup_key);
CREATE TABLE ${RESULTS} (${HOT_COLUMNS},
  finished_at   timestamptz NOT NULL DEFAULT now(),
  return_json   jsonb,
  errors_json   jsonb       NOT NULL DEFAULT '[]',
  metadata_json jsonb       NOT NULL DEFAULT '{}',
  worker_ids    text[]      NOT NULL DEFAULT '{}');
CREATE INDEX lean_results_finished ON ${RESULTS} (status, finished_at);`;
}

const SPEC = `jsonb_build_object('task', 'bench.noop', 'args', jsonb_build_array(g), 'kwargs', '{}'::jsonb,
  'queue', 'default', 'priority', 0, 'options', jsonb_build_object('x', repeat('o', 100)))`;
const PROVENANCE = JSON.stringify({
  host: "bench-host",
  pid: 4242,
  revision: "a".repeat(40),
  app: "bench",
  enqueued_at: "2026-11-24T00:00:00Z",
  note: "p".repeat(120),
});

const LAYOUTS = [
  {
    label: "shipped (one table, as migrated)",
    async build() {
      await sql.query(`CREATE TABLE ${COPY} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)
                       WITH (fillfactor = 85)`);
      await sql.query(`ALTER TABLE ${COPY} ADD PRIMARY KEY (result_id)`);
      for (const def of SHIPPED_INDEXES) await sql.query(def);
      for (const def of SHIPPED_TRIGGERS) await sql.query(def);
      if (FINISHED > 0) await fillFinishedCopy({ outcome: false });
    },
    enqueue: COPY_ENQUEUE,
    claim: copyClaim({ filter: "", fence: "r.lease_token::text" }),
    settle: `UPDATE ${COPY} r
         SET status = 'SUCCESSFUL', finished_at = now(), return_json = 'null', leased_by = NULL,
             leased_until = NULL, lease_token = NULL, updated_at = now()
        FROM unnest($1::bigint[], $2::text[]) AS u(id, fence)
       WHERE r.result_id = ANY($1) AND r.result_id = u.id AND r.lease_token = u.fence::uuid
         AND coalesce(r.status, '') = 'RUNNING'`,
    hotTable: COPY,
  },
  {
    label: "one table, HOT claim, fillfactor 50",
    async build() {
      await sql.query(`CREATE TABLE ${COPY} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)
                       WITH (fillfactor = 50)`);
      await sql.query(`ALTER TABLE ${COPY} ADD PRIMARY KEY (result_id), ADD COLUMN outcome text`);
      await sql.query(`CREATE INDEX lean_one_claim ON ${COPY} (queue_name, priority DESC, run_after, result_id)
                        WHERE finished_at IS NULL`);
      await sql.query(`CREATE INDEX lean_one_claim_order ON ${COPY} (priority DESC, run_after, result_id)
                        WHERE finished_at IS NULL`);
      await sql.query(`CREATE UNIQUE INDEX lean_one_dedup ON ${COPY} (dedup_key) WHERE finished_at IS NULL`);
      await sql.query(`CREATE INDEX lean_one_expiry ON ${COPY} (expires_at)
                        WHERE finished_at IS NULL AND expires_at IS NOT NULL`);
      await sql.query(
        `CREATE INDEX lean_one_finished ON ${COPY} (outcome, finished_at) WHERE outcome IS NOT NULL`,
      );
      for (const def of SHIPPED_TRIGGERS) await sql.query(def);
      if (FINISHED > 0) await fillFinishedCopy({ outcome: true });
    },
    enqueue: COPY_ENQUEUE,
    claim: copyClaim({ filter: "r.finished_at IS NULL AND ", fence: "r.attempts::text" }),
    settle: `UPDATE ${COPY} r
         SET status = 'SUCCESSFUL', outcome = 'SUCCESSFUL', finished_at = now(), return_json = 'null',
             leased_by = NULL, leased_until = NULL, lease_token = NULL, updated_at = now()
        FROM unnest($1::bigint[], $2::text[]) AS u(id, fence)
       WHERE r.result_id = ANY($1) AND r.result_id = u.id AND r.attempts = u.fence::integer
         AND r.leased_by = 'bench' AND coalesce(r.status, '') = 'RUNNING'`,
    hotTable: COPY,
  },
  ...[
    { partialClaim: false, fillfactor: 50 },
    { partialClaim: false, fillfactor: 70 },
    { partialClaim: true, fillfactor: 100 },
  ].map(({ partialClaim, fillfactor }) => ({
    label: `${partialClaim ? "split, claim index on READY runs only" : "split, HOT claim"}, fillfactor ${fillfactor}`,
    async build() {
      await sql.query(`CREATE SEQUENCE ${SEQ}`);
      await sql.query(splitSchema({ partialClaim, fillfactor }));
      if (FINISHED > 0)
        await sql.query(
          `INSERT INTO ${RESULTS} (id, queue_name, spec_json, spec_hash, task_path, provenance_json,
                                                 status, attempt, return_json)
          SELECT nextval('${SEQ}'), 'default', ${SPEC}, encode(sha256(('f' || g)::bytea), 'hex'), 'bench.noop',
                 $1::jsonb, 'SUCCESSFUL', 1, 'null' FROM generate_series(1, ${FINISHED}) g`,
          [PROVENANCE],
        );
    },
    enqueue: `INSERT INTO ${HOT} (id, queue_name, spec_json, spec_hash, dedup_key, task_path, provenance_json)
      SELECT nextval('${SEQ}'), 'default', u.spec::jsonb, u.hash, u.hash, 'bench.noop', $3::jsonb
        FROM unnest($1::text[], $2::text[]) AS u(spec, hash)
      ON CONFLICT DO NOTHING`,
    claim: `UPDATE ${HOT} r
         SET status = 'RUNNING', attempt = r.attempt + 1, started_at = coalesce(r.started_at, now()),
             worker_id = 'bench'
       WHERE r.id = ANY(ARRAY(
         SELECT c.id FROM ${HOT} c
          WHERE c.queue_name = 'default' AND c.status = 'READY' AND c.run_after <= now()
            AND (c.expires_at IS NULL OR c.expires_at > now())
          ORDER BY c.priority DESC, c.run_after, c.id LIMIT $1 FOR UPDATE SKIP LOCKED))
   RETURNING r.id, r.attempt::text AS fence, r.spec_json -> 'args' AS args`,
    // Fenced by (id, attempt, worker): a worker that lost the run matches nothing.
    settle: `WITH gone AS (
        DELETE FROM ${HOT} r USING unnest($1::bigint[], $2::text[]) AS u(id, fence)
         WHERE r.id = u.id AND r.attempt = u.fence::integer AND r.worker_id = 'bench' AND r.status = 'RUNNING'
        RETURNING r.*)
      INSERT INTO ${RESULTS} (id, queue_name, priority, run_after, status, attempt, max_attempts, timeout_seconds,
                              task_path, spec_json, spec_hash, lock_key, concurrency_key, concurrency_limit,
                              expires_at, enqueued_at, started_at, worker_id, provenance_json, return_json, worker_ids)
      SELECT id, queue_name, priority, run_after, 'SUCCESSFUL', attempt, max_attempts, timeout_seconds,
             task_path, spec_json, spec_hash, lock_key, concurrency_key, concurrency_limit,
             expires_at, enqueued_at, started_at, worker_id, provenance_json, 'null', ARRAY[worker_id]
        FROM gone`,
    hotTable: HOT,
  })),
];

async function dropAll() {
  for (const t of [COPY, HOT, RESULTS]) await sql.query(`DROP TABLE IF EXISTS ${t}`);
  await sql.query(`DROP SEQUENCE IF EXISTS ${SEQ}`);
}

async function hotUpdates(relation) {
  await sql.query("SELECT pg_stat_force_next_flush()");
  await sql.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await sql.query(
    `SELECT n_tup_upd::bigint AS upd, n_tup_hot_upd::bigint AS hot FROM pg_stat_user_tables WHERE relid = $1::regclass`,
    [relation],
  );
  return { upd: Number(rows[0].upd), hot: Number(rows[0].hot) };
}

/** The specs and hashes of a bulk enqueue, made by the client as a producer would send them. */
async function inputs() {
  const { rows } = await sql.query(
    `SELECT ${SPEC}::text AS spec, encode(sha256(g::text::bytea), 'hex') AS hash FROM generate_series(1, $1) g`,
    [RUNS],
  );
  return { specs: rows.map((r) => r.spec), hashes: rows.map((r) => r.hash) };
}

async function measure(layout, index, round, input) {
  await dropAll();
  await layout.build();
  await sql.query("VACUUM (ANALYZE)");
  await sql.query("CHECKPOINT").catch(() => {});
  let t = performance.now();
  for (let i = 0; i < RUNS; i += ENQUEUE_BATCH) {
    await sql.query({
      name: `lean-enqueue-${round}-${index}`,
      text: layout.enqueue,
      values: [input.specs.slice(i, i + ENQUEUE_BATCH), input.hashes.slice(i, i + ENQUEUE_BATCH), PROVENANCE],
    });
  }
  const enqueue = ((performance.now() - t) * 1000) / RUNS;
  await sql.query(`ANALYZE ${layout.hotTable}`);
  const before = await hotUpdates(layout.hotTable);
  let claiming = 0;
  let settling = 0;
  let done = 0;
  await sql.query("SET enable_nestloop = off"); // as settle_runs() plans its UPDATE (migration 9)
  const claimHeld = { name: `lean-claim-${round}-${index}`, text: layout.claim, values: [INFLIGHT] };
  const held = INFLIGHT > 0 ? (await sql.query(claimHeld)).rows : [];
  for (;;) {
    t = performance.now();
    await sql.query("BEGIN");
    await sql.query("SET LOCAL synchronous_commit = off");
    const { rows } = await sql.query({
      name: `lean-claim-${round}-${index}`,
      text: layout.claim,
      values: [BATCH],
    });
    await sql.query("COMMIT");
    claiming += performance.now() - t;
    if (rows.length === 0) break;
    t = performance.now();
    const settled = await sql.query({
      name: `lean-settle-${round}-${index}`,
      text: layout.settle,
      values: [rows.map((r) => r.id), rows.map((r) => r.fence)],
    });
    settling += performance.now() - t;
    if (settled.rowCount !== rows.length)
      throw new Error(`${layout.label}: settled ${settled.rowCount} of ${rows.length}`);
    done += rows.length;
  }
  if (held.length > 0) {
    const settled = await sql.query({
      name: `lean-settle-${round}-${index}`,
      text: layout.settle,
      values: [held.map((r) => r.id), held.map((r) => r.fence)],
    });
    done += settled.rowCount;
  }
  await sql.query("RESET enable_nestloop");
  if (done !== RUNS) throw new Error(`${layout.label}: claimed ${done} of ${RUNS} runs`);
  const after = await hotUpdates(layout.hotTable);
  const updates = after.upd - before.upd;
  return {
    enqueue,
    claim: (claiming * 1000) / RUNS,
    settle: (settling * 1000) / RUNS,
    hotShare: updates > 0 ? (after.hot - before.hot) / updates : Number.NaN,
  };
}

try {
  const input = await inputs();
  const results = LAYOUTS.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, layout] of LAYOUTS.entries()) results[i].push(await measure(layout, i, round, input));
  }
  console.log(
    `# Run-row layouts: PostgreSQL's cost per run (${fmt(RUNS)} runs, ${fmt(FINISHED)} finished present, median of ${ROUNDS})\n`,
  );
  console.log(`- machine: ${machine()}`);
  console.log(`- revision: ${revision()}`);
  for (const line of bench.describe()) console.log(line);
  console.log(
    `- bulk enqueue in statements of ${fmt(ENQUEUE_BATCH)}; claims of ${fmt(BATCH)}, each settled at once; ${fmt(INFLIGHT)} runs held RUNNING meanwhile\n`,
  );
  console.log(
    "| layout | bulk enqueue (us/run) | claim (us/run) | settle (us/run) | enqueue + claim + settle | updates that were HOT |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [i, layout] of LAYOUTS.entries()) {
    const pick = (f) => median(results[i].map(f));
    const hot = pick((r) => r.hotShare);
    const total = pick((r) => r.enqueue + r.claim + r.settle);
    console.log(
      `| ${layout.label} | ${pick((r) => r.enqueue).toFixed(1)} | ${pick((r) => r.claim).toFixed(1)} | ${pick((r) => r.settle).toFixed(1)} | ${total.toFixed(1)} | ${Number.isNaN(hot) ? "-" : `${(hot * 100).toFixed(0)}%`} |`,
    );
  }
} finally {
  await dropAll().catch(() => {});
  await bench.close();
}
