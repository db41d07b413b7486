/**
 * `reproq reclaim [--dry-run] [--limit N]`: rescues runs whose worker stopped renewing its
 * lease (crashed, frozen, cut off), with the statement the workers' maintenance pass uses.
 * Useful when no worker is running to do it, or to see what a dead worker left behind.
 */
import type { Command } from "commander";
import { type ReclaimedRun, reclaimExpiredLeases } from "../../ops/reclaim.js";
import { formatTable, type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { countFlag } from "../flags.js";

interface ReclaimFlags {
  dryRun?: boolean;
  limit?: string;
}

const EXAMPLES = `
Examples:
  $ reproq reclaim --dry-run            list runs whose lease expired, change nothing
  $ reproq reclaim                      re-queue them (or fail those out of attempts)
  $ reproq reclaim --limit 100
  $ reproq --json reclaim               print [{ id, taskName, status, leasedBy }, ...]

Running workers do this on their own every maintenanceInterval.
`;

export function registerReclaimCommand(program: Command): void {
  program
    .command("reclaim")
    .description("re-queue running runs whose lease expired (failed when out of attempts)")
    .option("--dry-run", "only list what would be reclaimed")
    .option("--limit <n>", "reclaim at most this many runs (default: all)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: ReclaimFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & ReclaimFlags>();
      const limit = opts.limit === undefined ? undefined : countFlag(opts.limit, "--limit");
      const config = await resolveCliConfig(opts);
      const runs = await withPool(
        config,
        (pool) => reclaimExpiredLeases(pool, config.values.schema, { dryRun: opts.dryRun === true, limit }),
        { max: 1 },
      );
      output(opts, runs, (rows) => describe(rows, opts.dryRun === true));
    });
}

function describe(runs: readonly ReclaimedRun[], dryRun: boolean): string[] {
  const cells = runs.map((run) => [
    run.id,
    run.taskName,
    `-> ${run.status}`,
    `(was leased by ${run.leasedBy ?? "?"})`,
  ]);
  // Header-less: each line reads as a sentence; formatTable only aligns the columns.
  const lines = cells.length > 0 ? formatTable(["", "", "", ""], cells).slice(1) : [];
  lines.push(`${dryRun ? "Would reclaim" : "Reclaimed"} ${runs.length} run(s)`);
  return lines;
}
