/**
 * `reproq pg-cron --install | --remove | --dry-run`: makes each enabled schedule a pg_cron job
 * that calls `<schema>.enqueue_schedule(name)`. pg_cron 1.4 schedules in UTC at minute
 * granularity, so other timezones and seconds fields are refused before anything changes.
 */
import { UsageError } from "../../errors.js";
import {
  DEFAULT_JOB_PREFIX,
  managePgCron,
  type PgCronAction,
  type PgCronOutcome,
} from "../../ops/pg-cron.js";
import { defineCommand } from "../define.js";

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
  $ reproq pg-cron --remove --dry-run           show the jobs --remove would delete

Needs pg_cron in this database (shared_preload_libraries = 'pg_cron', cron.database_name set to it,
CREATE EXTENSION pg_cron). Set REPROQ_SCHEDULER_MODE=pg_cron so that beat does not also run.
`;

export const pgCronCommand = defineCommand({
  name: "pg-cron",
  description: "install or remove pg_cron jobs that enqueue the schedules from SQL",
  options: [
    {
      flags: "--install",
      description: "create or update one job per enabled schedule and remove stale ones",
    },
    { flags: "--remove", description: "remove every job with the prefix" },
    {
      flags: "--dry-run",
      description: "print what --install (the default) or --remove would do, change nothing",
    },
    { flags: "--prefix <text>", description: `job-name prefix (default "${DEFAULT_JOB_PREFIX}")` },
    { flags: "--if-supported", description: "exit 0 with a message when pg_cron is not installed" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: PgCronFlags) => {
    // --dry-run alone plans an install; with --install or --remove it previews that action.
    const actions: PgCronAction[] = [];
    if (flags.install) actions.push("install");
    if (flags.remove) actions.push("remove");
    if (actions.length === 0 && flags.dryRun) actions.push("dry-run");
    if (actions.length !== 1)
      throw new UsageError("pg-cron: give exactly one of --install, --remove or --dry-run");
    const prefix = flags.prefix ?? DEFAULT_JOB_PREFIX;
    if (prefix === "") throw new UsageError("--prefix: must not be empty (it keeps other pg_cron jobs safe)");
    return {
      action: actions[0]!,
      prefix,
      ifSupported: flags.ifSupported === true,
      dryRun: flags.dryRun === true,
    };
  },
  run: (ctx, options) => managePgCron(ctx.db, ctx.schema, options),
  text: (outcome, ctx) => describe(outcome, ctx.flags.prefix ?? DEFAULT_JOB_PREFIX),
  notes: (outcome, ctx) => {
    const mode = ctx.config.values.schedulerMode ?? "beat";
    if (outcome.action !== "install" || mode === "pg_cron") return [];
    return [
      `reproq: note: schedulerMode is "${mode}"; set REPROQ_SCHEDULER_MODE=pg_cron so a beat does not also enqueue these schedules`,
    ];
  },
});

function describe(outcome: PgCronOutcome, prefix: string): string[] {
  switch (outcome.action) {
    case "none":
      return [`pg_cron is not available in this database; nothing to do (${outcome.reason})`];
    case "remove":
      return outcome.removed.length
        ? outcome.removed.map((n) => `${outcome.dryRun ? "Would remove" : "Removed"} pg_cron job ${n}`)
        : [`No pg_cron job starts with "${prefix}"`];
    default: {
      const install = outcome.action === "install";
      const verb = install ? "Scheduled" : "Would schedule";
      return [
        ...outcome.install.map((j) => `${verb} pg_cron job ${j.jobName} "${j.cron}": ${j.command}`),
        ...outcome.remove.map((n) => `${install ? "Removed" : "Would remove"} pg_cron job ${n}`),
        ...(outcome.install.length + outcome.remove.length === 0
          ? ["No enabled schedules; nothing to do"]
          : []),
      ];
    }
  }
}
