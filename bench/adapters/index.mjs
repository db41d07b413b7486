// One adapter per queue system for bench/runner/compare.mjs (reproq.mjs, graphile-worker.mjs,
// pg-boss.mjs; raw-floor.mjs holds the raw-SQL floors): set up a database, enqueue one job, enqueue
// a batch in one call, run a worker, count unfinished jobs. Each adapter works on its own database.
import pg from "pg";
import * as graphile from "./graphile-worker.mjs";
import * as pgboss from "./pg-boss.mjs";
import * as reproq from "./reproq.mjs";

const ADAPTERS = { reproq, graphile, pgboss };

export const SYSTEMS = Object.keys(ADAPTERS);

/** Worker settings per system and variant, as printed in the report. */
export const VARIANTS = Object.fromEntries(SYSTEMS.map((name) => [name, ADAPTERS[name].VARIANTS]));

/**
 * @param {string} system
 * @param {string} databaseUrl
 */
export async function openSystem(system, databaseUrl) {
  const adapter = ADAPTERS[system];
  if (!adapter) throw new Error(`unknown system ${system}`);
  // Each system's library is imported only when it is opened, so a worker process holds one queue
  // library in memory, not all three (the RSS rows compare processes).
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  const count = async (q) => (await sql.query(q)).rows[0].n;
  return adapter.open(databaseUrl, { sql, count });
}
