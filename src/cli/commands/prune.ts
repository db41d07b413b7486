/**
 * `reproq prune --status S[,S] --older-than DURATION` and its shorthand
 * `reproq prune-successful --older-than DURATION`: delete finished runs past a retention
 * age, in batches. `--dry-run` only counts.
 */
import { type Command, Option } from "commander";
import { UsageError } from "../../errors.js";
import { type PruneOutcome, pruneRuns, validatePruneStatuses } from "../../ops/prune.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
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

async function prune(opts: GlobalOptions & PruneFlags, statuses: string[]): Promise<void> {
  const olderThanMs = durationFlag(opts.olderThan, "--older-than");
  const valid = asUsage("--status", () => validatePruneStatuses(statuses));
  const dryRun = opts.dryRun === true;
  const config = await resolveCliConfig(opts);
  const outcome = await withPool(
    config,
    (pool) => pruneRuns(pool, config.values.schema, { statuses: valid, olderThanMs, dryRun }),
    { max: 1 },
  );
  output(opts, outcome, describe);
}

function describe(outcome: PruneOutcome): string {
  const verb = outcome.dryRun ? "Would delete" : "Deleted";
  return `${verb} ${outcome.count} run(s) (${outcome.statuses.join(", ")})`;
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(",").filter((part) => part.trim() !== "");
}

export function registerPruneCommands(program: Command): void {
  program
    .command("prune")
    .description("delete finished runs with the given statuses older than a retention age")
    .option("--status <list>", "comma-separated final statuses, e.g. FAILED,CANCELLED")
    .addOption(new Option("--statuses <list>", "same as --status").hideHelp())
    .requiredOption("--older-than <duration>", "delete runs that finished longer ago than this")
    .option("--dry-run", "only count what would be deleted")
    .addHelpText("after", PRUNE_EXAMPLES)
    .action(async (_flags: PruneFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & PruneFlags>();
      if (opts.status === undefined && opts.statuses === undefined) {
        throw new UsageError("required option '--status <list>' not specified");
      }
      const statuses = [...splitList(opts.status), ...splitList(opts.statuses)];
      if (statuses.length === 0) {
        throw new UsageError("--status: give at least one of SUCCESSFUL, FAILED, CANCELLED, EXPIRED");
      }
      await prune(opts, statuses);
    });

  program
    .command("prune-successful")
    .description("delete SUCCESSFUL runs older than a retention age")
    .requiredOption("--older-than <duration>", "delete runs that finished longer ago than this")
    .option("--dry-run", "only count what would be deleted")
    .addHelpText("after", SUCCESSFUL_EXAMPLES)
    .action(async (_flags: PruneFlags, cmd: Command) => {
      await prune(cmd.optsWithGlobals<GlobalOptions & PruneFlags>(), ["SUCCESSFUL"]);
    });
}
