/**
 * `reproq migrate [--check]`: applies pending migrations, or (with --check) reports
 * the schema version and fails while the database and this package disagree, so a
 * deploy pipeline can gate on it.
 */
import type { Command } from "commander";
import type pg from "pg";
import { SchemaError } from "../../errors.js";
import { type MigrationStatus, migrationStatus, runMigrations } from "../../sql/migrate.js";
import { LATEST_SCHEMA_VERSION } from "../../sql/migrations/index.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { autosyncRecurring, reportAutosync, tasksFlag } from "./sync-recurring.js";

interface MigrateOptions {
  check?: boolean;
  tasks?: string[];
}

type MigrationRef = { version: number; name: string };

/** The --json shape; `applied` only when migrations were run. */
interface MigrateReport {
  schema: string;
  current: number;
  latest: number;
  pending: MigrationRef[];
  /** The database has migrations this package does not know. */
  newer: boolean;
  applied?: MigrationRef[];
}

const EXAMPLES = `
Examples:
  $ reproq migrate                      apply pending migrations
  $ reproq migrate --check              exit 1 while migrations are pending
  $ reproq --dsn postgres://app@db/app --schema jobs migrate
  $ reproq --json migrate --check       print { schema, current, latest, pending, newer }
`;

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations (or check for them with --check)")
    .option("--check", "only check: exit 1 while migrations are pending or the database is newer")
    .option("--tasks <globs...>", "task modules whose recurring() schedules are synced after migrating")
    .addHelpText("after", EXAMPLES)
    .action(async (_options: MigrateOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & MigrateOptions>();
      const { flags, names } = tasksFlag(opts.tasks);
      const config = await resolveCliConfig(opts, flags, names);
      const schema = config.values.schema;
      // Migrating holds a single connection (for the advisory lock); a full-size pool would be waste.
      await withPool(
        config,
        async (pool) => {
          if (opts.check) return check(pool, schema, opts);
          await apply(pool, schema, opts);
          // Recurring schedules follow the code on every deploy (REPROQ_RECURRING_AUTOSYNC=false opts out).
          reportAutosync(opts, await autosyncRecurring(pool, config));
        },
        { max: 2 },
      );
    });
}

async function apply(pool: pg.Pool, schema: string, opts: GlobalOptions): Promise<void> {
  const result = await runMigrations(pool, schema);
  const report: MigrateReport = {
    schema,
    current: result.current,
    latest: LATEST_SCHEMA_VERSION,
    pending: [],
    newer: false,
    applied: result.applied,
  };
  output(opts, report, () =>
    result.applied.length === 0
      ? `Schema "${schema}" is up to date (version ${result.current})`
      : result.applied.map((m) => `Applied migration ${m.version} (${m.name}) to schema "${schema}"`),
  );
}

async function check(pool: pg.Pool, schema: string, opts: GlobalOptions): Promise<void> {
  const status = await migrationStatus(pool, schema);
  const problem = describeProblem(status);
  const report: MigrateReport = {
    schema,
    current: status.current,
    latest: status.latest,
    pending: status.pending,
    newer: status.newer,
  };
  if (problem === undefined) {
    output(opts, report, () => `Schema "${schema}" is up to date (version ${status.current})`);
    return;
  }
  // With --json the data still goes to stdout; the failure itself is the usual one stderr line and exit 1.
  if (opts.json) output(opts, report, () => []);
  throw new SchemaError(problem);
}

function describeProblem(status: MigrationStatus): string | undefined {
  if (status.newer) {
    return `schema "${status.schema}" is at version ${status.current}, newer than this package supports (${status.latest}); upgrade reproq (npm update reproq)`;
  }
  if (status.pending.length === 0) return undefined;
  const pending = status.pending.map((m) => `${m.version} (${m.name})`).join(", ");
  return `schema "${status.schema}" is at version ${status.current}, this package needs ${status.latest}; pending migrations: ${pending}; run \`reproq migrate\``;
}
