/** Queries on the schema_migrations table, which records applied migration versions. */

import { qualify, quoteIdent } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export async function ensureMigrationsTable(db: Queryable, schema: string): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${qualify(schema, "schema_migrations")} (
    version         integer PRIMARY KEY,
    name            text        NOT NULL,
    package_version text        NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
  )`);
}

/** Applied versions, or null when the schema or the table does not exist yet. */
export async function appliedVersions(db: Queryable, schema: string): Promise<number[] | null> {
  const exists = await db.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [
    `${quoteIdent(schema)}.schema_migrations`,
  ]);
  if (!exists.rows[0]?.ok) return null;
  const result = await db.query<{ version: number }>(
    `SELECT version FROM ${qualify(schema, "schema_migrations")} ORDER BY version`,
  );
  return result.rows.map((r) => r.version);
}

export async function recordMigration(
  db: Queryable,
  schema: string,
  version: number,
  name: string,
  packageVersion: string,
): Promise<void> {
  await db.query(
    `INSERT INTO ${qualify(schema, "schema_migrations")} (version, name, package_version) VALUES ($1, $2, $3)`,
    [version, name, packageVersion],
  );
}

export async function withAdvisoryLock<T>(db: Queryable, key: string, fn: () => Promise<T>): Promise<T> {
  await db.query("SELECT pg_advisory_lock($1::bigint)", [key]);
  try {
    return await fn();
  } finally {
    await db.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
  }
}
