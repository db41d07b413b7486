/**
 * `reproq replay --id ID`: runs a finished run again as a new run with exactly the recorded
 * spec and settings, linked to the original by provenance replay_of. Never deduplicated.
 */
import type { Command } from "commander";
import { replayRun } from "../../ops/replay.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { runIdFlag } from "../flags.js";

interface ReplayFlags {
  id: string;
}

const EXAMPLES = `
Examples:
  $ reproq replay --id 42               enqueue a copy of finished run 42
  $ reproq --json replay --id 42        print { id, replayOf, taskName, queue, status }

Only finished runs (SUCCESSFUL, FAILED, CANCELLED, EXPIRED) can be replayed; others exit 1.
The copy is enqueued even when the same spec is active: a replay is deliberate.
`;

export function registerReplayCommand(program: Command): void {
  program
    .command("replay")
    .description("enqueue a finished run again as a new run with the same spec")
    .requiredOption("--id <id>", "the finished run to replay")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: ReplayFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & ReplayFlags>();
      const id = runIdFlag(opts.id);
      const config = await resolveCliConfig(opts);
      const row = await withPool(config, (pool) => replayRun(pool, config.values.schema, id), { max: 1 });
      const report = {
        id: row.result_id,
        replayOf: id,
        taskName: row.task_path,
        queue: row.queue_name,
        status: row.status,
      };
      output(
        opts,
        report,
        (r) => `Replayed run ${r.replayOf} as run ${r.id} (${r.taskName} on queue ${r.queue}, ${r.status})`,
      );
    });
}
