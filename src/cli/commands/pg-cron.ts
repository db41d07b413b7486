/**
 * `reproq pg-cron --install | --remove | --dry-run`: makes each enabled schedule a pg_cron job
 * that calls `<schema>.enqueue_schedule(name)`. pg_cron 1.4 schedules in UTC at minute
 * granularity, so other timezones and seconds fields are refused before anything changes.
 */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import {
  applyPgCronPlan,
  DEFAULT_JOB_PREFIX,
  PgCronMissingError,
  planPgCron,
  removePgCronJobs,
} from "../../scheduler/pg-cron.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";

interface PgCronFlags {
  install?: boolean;
  remove?: boolean;
  dryRun?: boolean;
  prefix?: string;
  ifSupported?: boolean;
}

const EXAMPLES = `
Examples:
  $ reproq pg-cron --dry-run                    show the jobs --install would create or remove
  $ reproq pg-cron --install                    one pg_cron job per enabled schedule
  $ reproq pg-cron --install --if-supported     exit 0 with a message where pg_cron is missing
  $ reproq pg-cron --remove --prefix "app1:"

Needs pg_cron in this database (shared_preload_libraries = 'pg_cron', cron.database_name set to it,
CREATE EXTENSION pg_cron). Set REPROQ_SCHEDULER_MODE=pg_cron so that beat does not also run.
`;

export function registerPgCronCommand(program: Command): void {
  program
    .command("pg-cron")
    .description("install or remove pg_cron jobs that enqueue the schedules from SQL")
    .option("--install", "create or update one job per enabled schedule and remove stale ones")
    .option("--remove", "remove every job with the prefix")
    .option("--dry-run", "print what --install would do, change nothing")
    .option("--prefix <text>", `job-name prefix (default "${DEFAULT_JOB_PREFIX}")`)
    .option("--if-supported", "exit 0 with a message when pg_cron is not installed")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: PgCronFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & PgCronFlags>();
      const actions = [opts.install, opts.remove, opts.dryRun].filter(Boolean).length;
      if (actions !== 1)
        throw new UsageError("pg-cron: give exactly one of --install, --remove or --dry-run");
      const prefix = opts.prefix ?? DEFAULT_JOB_PREFIX;
      if (prefix === "")
        throw new UsageError("--prefix: must not be empty (it keeps other pg_cron jobs safe)");
      const config = await resolveCliConfig(opts);
      const schema = config.values.schema;
      try {
        await withPool(
          config,
          async (pool) => {
            if (opts.remove) {
              const removed = await removePgCronJobs(pool, schema, prefix);
              output(opts, { action: "remove", removed }, () =>
                removed.length
                  ? removed.map((n) => `Removed pg_cron job ${n}`)
                  : [`No pg_cron job starts with "${prefix}"`],
              );
              return;
            }
            const plan = await planPgCron(pool, schema, prefix);
            if (opts.install) await applyPgCronPlan(pool, schema, plan);
            const verb = opts.install ? "Scheduled" : "Would schedule";
            output(opts, { action: opts.install ? "install" : "dry-run", ...plan }, () => [
              ...plan.install.map((j) => `${verb} pg_cron job ${j.jobName} "${j.cron}": ${j.command}`),
              ...plan.remove.map((n) => `${opts.install ? "Removed" : "Would remove"} pg_cron job ${n}`),
              ...(plan.install.length + plan.remove.length === 0
                ? ["No enabled schedules; nothing to do"]
                : []),
            ]);
            const mode = config.values.schedulerMode ?? "beat";
            if (opts.install && mode !== "pg_cron") {
              process.stderr.write(
                `reproq: note: schedulerMode is "${mode}"; set REPROQ_SCHEDULER_MODE=pg_cron so a beat does not also enqueue these schedules\n`,
              );
            }
          },
          { max: 1 },
        );
      } catch (error) {
        if (opts.ifSupported && error instanceof PgCronMissingError) {
          output(opts, { action: "none", supported: false, reason: error.message }, () => [
            `pg_cron is not available in this database; nothing to do (${error.message})`,
          ]);
          return;
        }
        throw error;
      }
    });
}
