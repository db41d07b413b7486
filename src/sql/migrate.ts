/**
 * The migration runner. Safe to run from several processes at once: a session advisory lock
 * (keyed by the schema name) serialises them, and each migration commits with its version row.
 */
import type pg from "pg";
import { advisoryKey, assertSchemaName } from "../db/names.js";
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { SchemaError } from "../errors.js";
import { PACKAGE_VERSION } from "../version.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from "./migrations/index.js";
import {
  appliedVersions,
  ensureMigrationsTable,
  recordMigration,
  withAdvisoryLock,
} from "./schema-migrations.js";

export interface MigrationStatus {
  schema: string;
  /** Highest applied version (0 when nothing is applied). */
  current: number;
  latest: number;
  pending: Array<{ version: number; name: string }>;
  /** The database has versions this package does not know: it is newer than the package. */
  newer: boolean;
}

export async function migrationStatus(db: Queryable, schema: string): Promise<MigrationStatus> {
  assertSchemaName(schema);
  try {
    const applied = (await appliedVersions(db, schema)) ?? [];
    return describe(schema, applied);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

function describe(schema: string, applied: number[]): MigrationStatus {
  const done = new Set(applied);
  const known = new Set(MIGRATIONS.map((m) => m.version));
  return {
    schema,
    current: applied.length ? Math.max(...applied) : 0,
    latest: LATEST_SCHEMA_VERSION,
    pending: MIGRATIONS.filter((m) => !done.has(m.version)).map(({ version, name }) => ({ version, name })),
    newer: applied.some((v) => !known.has(v)),
  };
}

export interface MigrateResult {
  schema: string;
  applied: Array<{ version: number; name: string }>;
  current: number;
}

/** Applies every pending migration. Needs a pool (it holds one connection for the lock). */
export async function runMigrations(pool: pg.Pool, schema: string): Promise<MigrateResult> {
  assertSchemaName(schema);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  try {
    return await withAdvisoryLock(client, advisoryKey(schema, "migrate"), async () => {
      await ensureMigrationsTable(client, schema);
      const status = describe(schema, (await appliedVersions(client, schema)) ?? []);
      if (status.newer) {
        throw newerSchemaError(status);
      }
      const applied: MigrateResult["applied"] = [];
      for (const migration of MIGRATIONS) {
        if (!status.pending.some((p) => p.version === migration.version)) continue;
        await applyOne(client, schema, migration);
        applied.push({ version: migration.version, name: migration.name });
      }
      return { schema, applied, current: LATEST_SCHEMA_VERSION };
    });
  } catch (error) {
    throw mapDatabaseError(error, schema);
  } finally {
    client.release();
  }
}

async function applyOne(client: pg.PoolClient, schema: string, migration: Migration): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(migration.up(schema));
    await recordMigration(client, schema, migration.version, migration.name, PACKAGE_VERSION);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw new SchemaError(
      `migration ${migration.version} (${migration.name}) failed in schema "${schema}": ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function newerSchemaError(status: MigrationStatus): SchemaError {
  return new SchemaError(
    `schema "${status.schema}" is at version ${status.current}, newer than this package supports (${status.latest}); upgrade reproq (npm update reproq)`,
  );
}

/** Throws a SchemaError unless the schema is exactly at the version this package expects. */
export async function assertSchemaCurrent(db: Queryable, schema: string): Promise<void> {
  const status = await migrationStatus(db, schema);
  if (status.newer) throw newerSchemaError(status);
  if (status.pending.length > 0) {
    throw new SchemaError(
      `schema "${schema}" is at version ${status.current} but this package needs ${status.latest}; run \`reproq migrate\``,
    );
  }
}
