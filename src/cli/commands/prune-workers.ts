/**
 * `reproq prune-workers --older-than DURATION`: deletes the registry rows of workers that
 * stopped without unregistering (SIGKILL, crash, lost host). Live workers refresh their row
 * on every heartbeat, so choose an age well above heartbeatInterval.
 */
import { pruneStaleWorkers } from "../../ops/workers.js";
import { defineCommand } from "../define.js";
import { durationFlag } from "../flags.js";

const EXAMPLES = `
Examples:
  $ reproq prune-workers --older-than 10m
  $ reproq --json prune-workers --older-than 1h   print { olderThanMs, removed: [ids] }

The age needs a unit: 30s, 10m, 2h, 7d. Runs such workers still leased are reclaimed
separately (reproq reclaim, or any running worker).
`;

export const pruneWorkersCommand = defineCommand({
  name: "prune-workers",
  description: "delete rows of workers not seen for a while (stopped without unregistering)",
  options: [
    {
      flags: "--older-than <duration>",
      description: "remove workers whose last heartbeat is older than this",
      required: true,
    },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: { olderThan: string }) => durationFlag(flags.olderThan, "--older-than"),
  run: (ctx, olderThanMs) => pruneStaleWorkers(ctx.db, ctx.schema, olderThanMs),
  text: (outcome, ctx) => [
    ...outcome.removed.map((id) => `Removed worker ${id}`),
    `Removed ${outcome.removed.length} worker(s) not seen for ${ctx.flags.olderThan.trim()}`,
  ],
});
