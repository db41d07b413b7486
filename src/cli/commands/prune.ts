/**
 * `reproq prune --status S[,S] --older-than DURATION [--field F] [--limit N] [--force]` and its
 * shorthand `reproq prune-successful --older-than DURATION`: delete runs by status and age, in
 * batches: finished runs past a retention age, or a backlog of READY / WAITING runs (RUNNING
 * only with --force). `--dry-run` only counts.
 */
import { UsageError } from "../../errors.js";
import {
  AGE_FIELDS,
  type PruneOutcome,
  pruneRuns,
  validateAgeField,
  validatePruneStatuses,
} from "../../ops/prune.js";
import { defineCommand, type OptionSpec } from "../define.js";
import { asUsage, countFlag, durationFlag } from "../flags.js";

interface PruneFlags {
  olderThan: string;
  dryRun?: boolean;
  status?: string;
  statuses?: string;
  field?: string;
  limit?: string;
  force?: boolean;
  /** false with --no-throttle. */
  throttle?: boolean;
}

const PRUNE_EXAMPLES = `
Examples:
  $ reproq prune --status FAILED,CANCELLED --older-than 30d
  $ reproq prune --status EXPIRED --older-than 7d --dry-run   count only
  $ reproq --json prune --status FAILED --older-than 90d      print { statuses, olderThanMs, field, limit, dryRun, count }
  $ reproq prune --status READY,WAITING --field enqueued_at --older-than 2h --limit 10000
                                                              purge a backlog enqueued over 2 hours ago
  $ reproq prune --status RUNNING --field started_at --older-than 1d --force

Any status can be pruned; RUNNING needs --force. The age needs a unit (30s, 10m, 2h, 7d) and is
measured by --field (default finished_at, which only finished runs have).
`;

const SUCCESSFUL_EXAMPLES = `
Examples:
  $ reproq prune-successful --older-than 7d
  $ reproq prune-successful --older-than 24h --dry-run

Same as reproq prune --status SUCCESSFUL.
`;

const AGE_OPTIONS: readonly OptionSpec[] = [
  {
    flags: "--older-than <duration>",
    description: "delete runs older than this (by --field for prune; finished_at otherwise)",
    required: true,
  },
  { flags: "--dry-run", description: "only count what would be deleted" },
  {
    flags: "--no-throttle",
    description: "delete at full speed (by default it pauses between batches as long as each took)",
  },
];

function pruneInput(flags: PruneFlags, given: string[]) {
  const force = flags.force === true;
  const statuses = asUsage("--status", () => validatePruneStatuses(given, { force }));
  return {
    olderThanMs: durationFlag(flags.olderThan, "--older-than"),
    statuses,
    field: asUsage("--field", () => validateAgeField(flags.field, statuses)),
    ...(flags.limit === undefined ? {} : { limit: countFlag(flags.limit, "--limit") }),
    force,
    dryRun: flags.dryRun === true,
    throttle: flags.throttle !== false,
  };
}

function describe(outcome: PruneOutcome): string {
  const verb = outcome.dryRun ? "Would delete" : "Deleted";
  return `${verb} ${outcome.count} run(s) (${outcome.statuses.join(", ")})`;
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(",").filter((part) => part.trim() !== "");
}

export const pruneCommand = defineCommand({
  name: "prune",
  description: "delete runs with the given statuses older than an age (finished runs, or a backlog)",
  options: [
    { flags: "--status <list>", description: "comma-separated statuses, e.g. FAILED,CANCELLED" },
    { flags: "--statuses <list>", description: "same as --status", hidden: true },
    ...AGE_OPTIONS,
    {
      flags: "--field <column>",
      description: `the age is measured by this column: ${AGE_FIELDS.join(", ")} (default finished_at)`,
    },
    { flags: "--limit <n>", description: "delete at most this many runs" },
    { flags: "--force", description: "allow --status RUNNING (their workers' results are lost)" },
  ],
  help: PRUNE_EXAMPLES,
  database: { max: 1 },
  parse: (flags: PruneFlags) => {
    if (flags.status === undefined && flags.statuses === undefined) {
      throw new UsageError("required option '--status <list>' not specified");
    }
    const statuses = [...splitList(flags.status), ...splitList(flags.statuses)];
    if (statuses.length === 0) {
      throw new UsageError("--status: give at least one status, e.g. SUCCESSFUL, FAILED, CANCELLED, EXPIRED");
    }
    return pruneInput(flags, statuses);
  },
  run: (ctx, input) => pruneRuns(ctx.db, ctx.schema, input),
  text: describe,
});

export const pruneSuccessfulCommand = defineCommand({
  name: "prune-successful",
  description: "delete SUCCESSFUL runs older than a retention age",
  options: AGE_OPTIONS,
  help: SUCCESSFUL_EXAMPLES,
  database: { max: 1 },
  parse: (flags: PruneFlags) => pruneInput(flags, ["SUCCESSFUL"]),
  run: (ctx, input) => pruneRuns(ctx.db, ctx.schema, input),
  text: describe,
});
