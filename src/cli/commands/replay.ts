/**
 * `reproq replay --id ID`: runs a finished run again as a new run with exactly the recorded
 * spec and settings, linked to the original by provenance replay_of. Never deduplicated.
 */
import { replayRunById } from "../../ops/replay.js";
import { defineCommand } from "../define.js";
import { runIdFlag } from "../flags.js";

const EXAMPLES = `
Examples:
  $ reproq replay --id 42               enqueue a copy of finished run 42
  $ reproq --json replay --id 42        print { id, replayOf, taskName, queue, status }

Only finished runs (SUCCESSFUL, FAILED, CANCELLED, EXPIRED) can be replayed; others exit 1.
The copy is enqueued even when the same spec is active: a replay is deliberate.
`;

export const replayCommand = defineCommand({
  name: "replay",
  description: "enqueue a finished run again as a new run with the same spec",
  options: [{ flags: "--id <id>", description: "the finished run to replay", required: true }],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: { id: string }) => runIdFlag(flags.id),
  run: (ctx, id) => replayRunById(ctx.db, ctx.schema, id),
  text: (r) => `Replayed run ${r.replayOf} as run ${r.id} (${r.taskName} on queue ${r.queue}, ${r.status})`,
});
