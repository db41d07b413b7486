/**
 * Migrations for operators: apply the pending ones, or check whether the database and this
 * package agree (a deploy gate). Both answer with the same plain report.
 */
import type pg from "pg";
import type { Queryable } from "../db/pool.js";
import { type MigrationStatus, migrationStatus, runMigrations } from "../sql/migrate.js";
import { LATEST_SCHEMA_VERSION } from "../sql/migrations/index.js";

export type MigrationRef = { version: number; name: string };

export interface MigrateReport {
  schema: string;
  current: number;
  latest: number;
  pending: MigrationRef[];
  /** The database has migrations this package does not know. */
  newer: boolean;
  /** What this call applied; only when migrations were run. */
  applied?: MigrationRef[];
}

export interface MigrationCheck {
  report: MigrateReport;
  /** Why the schema cannot be used as it is (pending migrations, or a newer database); undefined when current. */
  problem: string | undefined;
}

/** Applies every pending migration (one connection holds the advisory lock) and reports the result. */
export async function applyMigrations(pool: pg.Pool, schema: string): Promise<MigrateReport> {
  const result = await runMigrations(pool, schema);
  return {
    schema,
    current: result.current,
    latest: LATEST_SCHEMA_VERSION,
    pending: [],
    newer: false,
    applied: result.applied,
  };
}

/** Compares the database's schema version with this package's; changes nothing. */
export async function checkMigrations(db: Queryable, schema: string): Promise<MigrationCheck> {
  const status = await migrationStatus(db, schema);
  return {
    report: {
      schema,
      current: status.current,
      latest: status.latest,
      pending: status.pending,
      newer: status.newer,
    },
    problem: describeProblem(status),
  };
}

function describeProblem(status: MigrationStatus): string | undefined {
  if (status.newer) {
    return `schema "${status.schema}" is at version ${status.current}, newer than this package supports (${status.latest}); upgrade reproq (npm update reproq)`;
  }
  if (status.pending.length === 0) return undefined;
  const pending = status.pending.map((m) => `${m.version} (${m.name})`).join(", ");
  return `schema "${status.schema}" is at version ${status.current}, this package needs ${status.latest}; pending migrations: ${pending}; run \`reproq migrate\``;
}
