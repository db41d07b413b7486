/** Per-test-file databases cloned from the migrated template (see global-setup.ts). */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";

export interface TestDatabase {
  name: string;
  url: string;
  /** A pool for assertions made directly in SQL. */
  pool: pg.Pool;
}

export function databaseUrl(database: string): string {
  const parsed = new URL(inject("pgAdminUrl"));
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A pool for assertions. Dropping the database (WITH FORCE) at the end of a file ends any
 * connection still open; that must not surface as an unhandled error of the test run.
 */
function testPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", () => {});
  return pool;
}

/** Creates an empty database (no schema), e.g. for migration tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const name = `reproq_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(name);
  return { name, url, pool: testPool(url) };
}

/** Creates a database cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `reproq_test_${randomBytes(6).toString("hex")}`;
  const template = inject("pgTemplate");
  await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = databaseUrl(name);
  return { name, url, pool: testPool(url) };
}

export async function dropTestDatabase(db: TestDatabase): Promise<void> {
  await db.pool.end().catch(() => {});
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`));
}

/**
 * Gives the test file its own migrated database for its whole run.
 * Returns a holder whose `db` is set in beforeAll.
 */
export function useTestDatabase(options: { empty?: boolean } = {}): { db: TestDatabase } {
  const holder = {} as { db: TestDatabase };
  beforeAll(async () => {
    holder.db = options.empty ? await createEmptyDatabase() : await createTestDatabase();
  });
  afterAll(async () => {
    if (holder.db) await dropTestDatabase(holder.db);
  });
  return holder;
}

/** How many runs of `taskPath` the database holds. */
export async function countRuns(pool: pg.Pool, taskPath: string): Promise<number> {
  const r = await pool.query("SELECT count(*)::int AS n FROM reproq.task_runs WHERE task_path = $1", [
    taskPath,
  ]);
  return r.rows[0].n;
}
