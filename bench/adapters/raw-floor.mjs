// Raw-SQL floors for bench/runner/compare.mjs: what a queue on this server costs with no queue library at
// all, only the pg driver and the three statements every SKIP LOCKED queue needs. Reproq's end-to-end
// rate and latency are compared against these numbers.
//
// - throughput: `connections` connections, each looping "insert `batch` jobs, claim up to `batch`
//   with FOR UPDATE SKIP LOCKED, delete the claimed batch" until `jobs` jobs were inserted and every
//   one of them is deleted. Rate = jobs / wall time of the whole cycle.
// - drain: the same table pre-filled with `jobs` jobs and vacuumed, then `connections` connections
//   looping "claim up to `batch`, complete them" until none is left. Completing deletes the jobs
//   (as graphile-worker does) or, with `keep`, marks them finished and stores a result in place (the
//   least a queue that keeps results must write: one more update, HOT since no index covers it).
// - latency: a claimer LISTENs; a producer inserts one job and NOTIFYs in the same statement; the
//   claimer claims on the notification. Time from before the insert to the claim's answer.
import { performance } from "node:perf_hooks";
import pg from "pg";
import { percentiles } from "../runner/lib.mjs";

const TABLE = "raw_jobs";
const CHANNEL = "raw_jobs_wake";

// The claim selects ids and updates them with `id = ANY(...)`: a plan cached for
// `UPDATE ... FROM unnest(...)` can pick a sequential scan when the statistics were taken while the
// table was empty, and then scans the whole table on every call.
const SQL = {
  create: `
    DROP TABLE IF EXISTS ${TABLE};
    CREATE TABLE ${TABLE} (
      id bigserial PRIMARY KEY,
      payload jsonb NOT NULL,
      run_at timestamptz NOT NULL DEFAULT now(),
      locked_by text,
      locked_at timestamptz,
      finished_at timestamptz,
      result jsonb
    );
    CREATE INDEX ${TABLE}_ready ON ${TABLE} (run_at, id) WHERE locked_at IS NULL;`,
  insert: `INSERT INTO ${TABLE} (payload) SELECT * FROM unnest($1::jsonb[])`,
  insertAndNotify: `WITH job AS (INSERT INTO ${TABLE} (payload) VALUES ($1) RETURNING id)
    SELECT pg_notify('${CHANNEL}', id::text) FROM job`,
  claim: `UPDATE ${TABLE} SET locked_by = $1, locked_at = now()
    WHERE id = ANY(ARRAY(
      SELECT id FROM ${TABLE} WHERE locked_at IS NULL AND run_at <= now()
      ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED))
    RETURNING id, payload`,
  complete: `DELETE FROM ${TABLE} WHERE id = ANY($1::bigint[])`,
  completeKeep: `UPDATE ${TABLE} SET finished_at = now(), result = 'null' WHERE id = ANY($1::bigint[])`,
};

/**
 * Runs `fn` with `connections` clients on a fresh raw_jobs table, then drops the table and closes
 * the clients, whatever `fn` did.
 */
async function withRawTable(databaseUrl, connections, fn) {
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  try {
    await clients[0].query(SQL.create);
    return await fn(clients);
  } finally {
    await clients[0].query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

/**
 * Full insert-claim-complete cycle over `jobs` no-op jobs; returns { rate, elapsed, jobs }.
 * @param {string} databaseUrl
 */
export async function rawThroughput(databaseUrl, { jobs, connections = 4, batch = 500 }) {
  return withRawTable(databaseUrl, connections, async (clients) => {
    let toInsert = jobs;
    let finished = 0;
    const loop = async (client, k) => {
      // Named statements: parsed and planned once per connection, as a queue library would.
      const claim = { name: "raw-claim", text: SQL.claim };
      const complete = { name: "raw-complete", text: SQL.complete };
      const insert = { name: "raw-insert", text: SQL.insert };
      while (finished < jobs) {
        const size = Math.min(batch, toInsert);
        toInsert -= size;
        if (size > 0) {
          const payloads = Array.from({ length: size }, (_, i) => JSON.stringify({ i: toInsert + i }));
          await client.query({ ...insert, values: [payloads] });
        }
        const { rows } = await client.query({ ...claim, values: [`raw-${k}`, batch] });
        // The no-op "handler" runs here; then the batch is completed with one statement.
        if (rows.length > 0) {
          await client.query({ ...complete, values: [rows.map((r) => r.id)] });
          finished += rows.length;
        } else if (size === 0) {
          // Nothing left to insert and nothing claimable: the rest is in another connection's hands.
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(clients.map(loop));
    const elapsed = performance.now() - t0;
    return { rate: jobs / (elapsed / 1000), elapsed, jobs, connections, batch };
  });
}

/**
 * Drain of `jobs` pre-inserted no-op jobs by `connections` claim-and-complete loops; completion
 * deletes the jobs, or with `keep` stores a result in place. Returns { rate, elapsed, jobs, ... }.
 * @param {string} databaseUrl
 */
export async function rawDrain(databaseUrl, { jobs, connections = 4, batch = 500, keep = false }) {
  return withRawTable(databaseUrl, connections, async (clients) => {
    for (let done = 0; done < jobs; done += 10_000) {
      const payloads = Array.from({ length: Math.min(10_000, jobs - done) }, (_, i) =>
        JSON.stringify({ i: done + i }),
      );
      await clients[0].query(SQL.insert, [payloads]);
    }
    await clients[0].query(`VACUUM (ANALYZE) ${TABLE}`);
    await clients[0].query("CHECKPOINT").catch(() => {});
    let finished = 0;
    const loop = async (client, k) => {
      const claim = { name: "raw-claim", text: SQL.claim };
      const complete = keep
        ? { name: "raw-complete-keep", text: SQL.completeKeep }
        : { name: "raw-complete", text: SQL.complete };
      for (;;) {
        const { rows } = await client.query({ ...claim, values: [`raw-${k}`, batch] });
        if (rows.length === 0) return;
        await client.query({ ...complete, values: [rows.map((r) => r.id)] });
        finished += rows.length;
      }
    };
    const t0 = performance.now();
    await Promise.all(clients.map(loop));
    const elapsed = performance.now() - t0;
    if (finished !== jobs) throw new Error(`raw drain finished ${finished} of ${jobs} jobs`);
    return { rate: jobs / (elapsed / 1000), elapsed, jobs, connections, batch, keep };
  });
}

/**
 * Enqueue-to-claim latency of an insert that NOTIFYs a listening claimer, over `samples` sequential
 * jobs; returns { p: [p50, p95, p99], n } in milliseconds.
 * @param {string} databaseUrl
 */
export async function rawLatency(databaseUrl, { samples }) {
  return withRawTable(databaseUrl, 2, async ([producer, claimer]) => {
    await claimer.query(`LISTEN ${CHANNEL}`);
    let wake = () => {};
    claimer.on("notification", () => wake());
    const claim = { name: "raw-claim", text: SQL.claim, values: ["raw-listener", 10] };
    const complete = { name: "raw-complete", text: SQL.complete };
    const insert = { name: "raw-insert-notify", text: SQL.insertAndNotify };
    const times = [];
    for (let i = 0; i < samples; i++) {
      const woken = new Promise((resolve) => {
        wake = resolve;
      });
      const t0 = performance.now();
      await producer.query({ ...insert, values: [JSON.stringify({ i })] });
      await woken;
      const { rows } = await claimer.query(claim);
      times.push(performance.now() - t0);
      await claimer.query({ ...complete, values: [rows.map((r) => r.id)] });
    }
    return { p: percentiles(times), n: times.length };
  });
}
