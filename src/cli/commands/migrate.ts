/**
 * `reproq migrate [--check]`: applies pending migrations, or (with --check) reports
 * the schema version and fails while the database and this package disagree, so a
 * deploy pipeline can gate on it.
 */
import { SchemaError } from "../../errors.js";
import {
  applyMigrations,
  checkMigrations,
  type MigrateReport,
  type MigrationCheck,
} from "../../ops/migrate.js";
import { autosyncRecurring, type SyncResult } from "../../ops/recurring.js";
import { defineCommand } from "../define.js";
import { tasksOption } from "../options.js";
import { describeSync } from "./sync-recurring.js";

interface MigrateFlags {
  check?: boolean;
  tasks?: string[];
}

type MigrateOutcome =
  | ({ mode: "check" } & MigrationCheck)
  | {
      mode: "apply";
      report: MigrateReport;
      /** The recurring-schedule sync after migrating; null when it did not run. */
      recurring: SyncResult | null;
      /** Why that sync failed; the migrations stay applied and are reported first. */
      recurringError?: unknown;
    };

const EXAMPLES = `
Examples:
  $ reproq migrate                      apply pending migrations
  $ reproq migrate --check              exit 1 while migrations are pending
  $ reproq --dsn postgres://app@db/app --schema jobs migrate
  $ reproq --json migrate --check       print { schema, current, latest, pending, newer }
`;

export const migrateCommand = defineCommand<MigrateFlags, undefined, MigrateOutcome>({
  name: "migrate",
  description: "apply pending database migrations (or check for them with --check)",
  options: [
    {
      flags: "--check",
      description: "only check: exit 1 while migrations are pending or the database is newer",
    },
    tasksOption("task modules whose recurring() schedules are synced after migrating"),
  ],
  help: EXAMPLES,
  // Migrating holds a single connection (for the advisory lock); a full-size pool would be waste.
  database: { max: 2 },
  run: async (ctx) => {
    if (ctx.flags.check) return { mode: "check", ...(await checkMigrations(ctx.db, ctx.schema)) };
    const report = await applyMigrations(ctx.db, ctx.schema);
    try {
      // Recurring schedules follow the code on every deploy (REPROQ_RECURRING_AUTOSYNC=false opts out).
      const recurring = await autosyncRecurring(ctx.db, ctx.config.values, {
        cwd: ctx.cwd,
        env: process.env,
      });
      return { mode: "apply", report, recurring };
    } catch (error) {
      return { mode: "apply", report, recurring: null, recurringError: error };
    }
  },
  json: (outcome) => outcome.report,
  text: (outcome) => {
    const { schema, current } = outcome.report;
    if (outcome.mode === "check") {
      // A failed check prints nothing here: the failure is the usual one stderr line.
      return outcome.problem === undefined ? `Schema "${schema}" is up to date (version ${current})` : null;
    }
    const applied = outcome.report.applied ?? [];
    const lines =
      applied.length === 0
        ? [`Schema "${schema}" is up to date (version ${current})`]
        : applied.map((m) => `Applied migration ${m.version} (${m.name}) to schema "${schema}"`);
    // Text mode only: --json stays one document.
    if (outcome.recurring)
      lines.push(...describeSync(outcome.recurring).map((l) => `Recurring schedules: ${l}`));
    return lines;
  },
  verdict: (outcome) => {
    if (outcome.mode === "check" && outcome.problem !== undefined) throw new SchemaError(outcome.problem);
    if (outcome.mode === "apply" && outcome.recurringError !== undefined) throw outcome.recurringError;
    return undefined;
  },
});
