/**
 * `reproq reclaim [--dry-run] [--limit N]`: rescues runs whose worker stopped renewing its
 * lease (crashed, frozen, cut off), with the statement the workers' maintenance pass uses.
 * Useful when no worker is running to do it, or to see what a dead worker left behind.
 */
import { type ReclaimedRun, reclaimExpiredLeases } from "../../ops/reclaim.js";
import { formatTable } from "../context.js";
import { defineCommand } from "../define.js";
import { countFlag } from "../flags.js";

const EXAMPLES = `
Examples:
  $ reproq reclaim --dry-run            list runs whose lease expired, change nothing
  $ reproq reclaim                      re-queue them (or fail those out of attempts)
  $ reproq reclaim --limit 100
  $ reproq --json reclaim               print [{ id, taskName, status, leasedBy }, ...]

Running workers do this on their own every maintenanceInterval.
`;

export const reclaimCommand = defineCommand({
  name: "reclaim",
  description: "re-queue running runs whose lease expired (failed when out of attempts)",
  options: [
    { flags: "--dry-run", description: "only list what would be reclaimed" },
    { flags: "--limit <n>", description: "reclaim at most this many runs (default: all)" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: { dryRun?: boolean; limit?: string }) => ({
    dryRun: flags.dryRun === true,
    limit: flags.limit === undefined ? undefined : countFlag(flags.limit, "--limit"),
  }),
  run: (ctx, options) => reclaimExpiredLeases(ctx.db, ctx.schema, options),
  text: (runs, ctx) => describe(runs, ctx.flags.dryRun === true),
});

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
