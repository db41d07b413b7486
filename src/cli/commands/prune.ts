/**
 * `reproq prune --status S[,S] --older-than DURATION` and its shorthand
 * `reproq prune-successful --older-than DURATION`: delete finished runs past a retention
 * age, in batches. `--dry-run` only counts.
 */
import { UsageError } from "../../errors.js";
import { type PruneOutcome, pruneRuns, validatePruneStatuses } from "../../ops/prune.js";
import { defineCommand, type OptionSpec } from "../define.js";
import { asUsage, durationFlag } from "../flags.js";

interface PruneFlags {
  olderThan: string;
  dryRun?: boolean;
  status?: string;
  statuses?: string;
}

const PRUNE_EXAMPLES = `
Examples:
  $ reproq prune --status FAILED,CANCELLED --older-than 30d
  $ reproq prune --status EXPIRED --older-than 7d --dry-run   count only
  $ reproq --json prune --status FAILED --older-than 90d      print { statuses, olderThanMs, dryRun, count }

Only finished statuses can be pruned: SUCCESSFUL, FAILED, CANCELLED, EXPIRED.
The age needs a unit (30s, 10m, 2h, 7d) and is measured from when the run finished.
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
    description: "delete runs that finished longer ago than this",
    required: true,
  },
  { flags: "--dry-run", description: "only count what would be deleted" },
];

function pruneInput(flags: PruneFlags, statuses: string[]) {
  return {
    olderThanMs: durationFlag(flags.olderThan, "--older-than"),
    statuses: asUsage("--status", () => validatePruneStatuses(statuses)),
    dryRun: flags.dryRun === true,
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
  description: "delete finished runs with the given statuses older than a retention age",
  options: [
    { flags: "--status <list>", description: "comma-separated final statuses, e.g. FAILED,CANCELLED" },
    { flags: "--statuses <list>", description: "same as --status", hidden: true },
    ...AGE_OPTIONS,
  ],
  help: PRUNE_EXAMPLES,
  database: { max: 1 },
  parse: (flags: PruneFlags) => {
    if (flags.status === undefined && flags.statuses === undefined) {
      throw new UsageError("required option '--status <list>' not specified");
    }
    const statuses = [...splitList(flags.status), ...splitList(flags.statuses)];
    if (statuses.length === 0) {
      throw new UsageError("--status: give at least one of SUCCESSFUL, FAILED, CANCELLED, EXPIRED");
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
