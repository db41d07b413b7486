/**
 * `reproq prune-workers --older-than DURATION`: deletes the registry rows of workers that
 * stopped without unregistering (SIGKILL, crash, lost host). Live workers refresh their row
 * on every heartbeat, so choose an age well above heartbeatInterval.
 */
import type { Command } from "commander";
import { pruneStaleWorkers } from "../../ops/workers.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { durationFlag } from "../flags.js";

interface PruneFlags {
  olderThan: string;
}

interface PruneReport {
  olderThanMs: number;
  removed: string[];
}

const EXAMPLES = `
Examples:
  $ reproq prune-workers --older-than 10m
  $ reproq --json prune-workers --older-than 1h   print { olderThanMs, removed: [ids] }

The age needs a unit: 30s, 10m, 2h, 7d. Runs such workers still leased are reclaimed
separately (reproq reclaim, or any running worker).
`;

export function registerPruneWorkersCommand(program: Command): void {
  program
    .command("prune-workers")
    .description("delete rows of workers not seen for a while (stopped without unregistering)")
    .requiredOption("--older-than <duration>", "remove workers whose last heartbeat is older than this")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: PruneFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & PruneFlags>();
      const olderThanMs = durationFlag(opts.olderThan, "--older-than");
      const config = await resolveCliConfig(opts);
      const removed = await withPool(
        config,
        (pool) => pruneStaleWorkers(pool, config.values.schema, olderThanMs),
        {
          max: 1,
        },
      );
      const report: PruneReport = { olderThanMs, removed };
      output(opts, report, () => [
        ...removed.map((id) => `Removed worker ${id}`),
        `Removed ${removed.length} worker(s) not seen for ${opts.olderThan.trim()}`,
      ]);
    });
}
