/**
 * Test PostgreSQL: DATABASE_URL when set, else an embedded server under .reproq/test-pg
 * (a server left running by a killed run is found and reused, then stopped at the end).
 * A template database is migrated once per schema fingerprint; each test file clones it.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { createPool } from "../../src/db/pool.js";
import { runMigrations } from "../../src/sql/migrate.js";
import { MIGRATIONS } from "../../src/sql/migrations/index.js";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function ensureTemplate(adminUrl: string): Promise<string> {
  const fingerprint = createHash("sha256")
    .update(MIGRATIONS.map((m) => m.up("reproq")).join("\n"))
    .digest("hex")
    .slice(0, 12);
  const template = `reproq_tpl_${fingerprint}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [template]);
    if (found.rowCount) return template;
    const building = `${template}_build_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS "${building}"`);
    await admin.query(`CREATE DATABASE "${building}"`);
    const pool = createPool({ url: withDatabase(adminUrl, building), max: 2 });
    try {
      await runMigrations(pool, "reproq");
    } finally {
      await pool.end();
    }
    // Renaming last makes a half-built template impossible to pick up after a crash.
    await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    await admin.query(`ALTER DATABASE "${template}" IS_TEMPLATE true`);
    await dropOldTemplates(admin, template);
    return template;
  } finally {
    await admin.end();
  }
}

/** Templates kept besides the current one: a run of other code may still be cloning them. */
const OTHER_TEMPLATES_KEPT = 2;

/**
 * Each change to the migrations builds a new template. Older ones are dropped, except the most
 * recently created few (highest OIDs), which a concurrent run of other code on the same server may
 * still use; one in use cannot be dropped, and is left for a later run.
 */
async function dropOldTemplates(admin: pg.Client, current: string): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database
      WHERE datname ~ '^reproq_tpl_[0-9a-f]{12}$' AND datname <> $1
      ORDER BY oid DESC OFFSET $2`,
    [current, OTHER_TEMPLATES_KEPT],
  );
  for (const { datname } of rows) {
    try {
      await admin.query(`ALTER DATABASE "${datname}" IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE "${datname}"`);
    } catch {
      // In use by another run at this moment: a later run drops it.
    }
  }
}

const USERS_DIR = path.resolve(".reproq/test-pg-users");

function registerUser(): string {
  mkdirSync(USERS_DIR, { recursive: true });
  const file = path.join(USERS_DIR, String(process.pid));
  writeFileSync(file, "");
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Unregisters this run; true when no other live run still uses the server. */
function lastUser(file: string): boolean {
  rmSync(file, { force: true });
  let others = 0;
  for (const name of readdirSync(USERS_DIR)) {
    if (alive(Number(name))) others++;
    else rmSync(path.join(USERS_DIR, name), { force: true });
  }
  return others === 0;
}

async function otherClientsConnected(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    return (rows[0]?.n ?? 0) > 0;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let adminUrl = process.env.DATABASE_URL;
  let server: EmbeddedPostgres | undefined;
  if (!adminUrl) {
    server = await startEmbeddedPostgres({
      dataDir: path.resolve(".reproq/test-pg"),
      port: 54329,
      fast: true,
    }).catch((error: unknown) => {
      // The message says what failed and what to do; a stack into the harness would bury it.
      const oneLine = new Error(error instanceof Error ? error.message : String(error));
      oneLine.stack = `Error: ${oneLine.message}`;
      throw oneLine;
    });
    adminUrl = server.url;
  }
  project.provide("pgAdminUrl", adminUrl);
  project.provide("pgTemplate", await ensureTemplate(adminUrl));
  const users = server ? registerUser() : undefined;
  return async () => {
    // Several test runs may share this server (a later one finds it running and reuses it).
    // Each run registers its pid; the last live run stops it. A killed run's stale entry is
    // ignored, so the next run to finish stops a server a killed run left behind.
    if (server && users && lastUser(users) && !(await otherClientsConnected(server.url))) await server.stop();
  };
}
