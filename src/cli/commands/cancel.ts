/**
 * `reproq cancel --id ID`: cancels a run. One that has not started ends CANCELLED at once; a
 * running one is asked to stop (its handler's AbortSignal fires); a finished one is left alone.
 */
import type { Command } from "commander";
import { type CancelOutcome, cancelRunById } from "../../ops/cancel.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";
import { runIdFlag } from "../flags.js";

interface CancelFlags {
  id: string;
}

const EXAMPLES = `
Examples:
  $ reproq cancel --id 42               cancel run 42
  $ reproq --json cancel --id 42        print { id, previousStatus, status, outcome }

Cancelling a finished run is not an error (exit 0); an unknown id exits 1.
`;

export function registerCancelCommand(program: Command): void {
  program
    .command("cancel")
    .description("cancel a run: at once if it has not started, else ask its worker to stop it")
    .requiredOption("--id <id>", "the run to cancel")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: CancelFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & CancelFlags>();
      const id = runIdFlag(opts.id);
      const config = await resolveCliConfig(opts);
      const outcome = await withPool(config, (pool) => cancelRunById(pool, config.values.schema, id), {
        max: 1,
      });
      output(opts, outcome, describe);
    });
}

function describe(outcome: CancelOutcome): string {
  switch (outcome.outcome) {
    case "cancelled":
      return `Cancelled run ${outcome.id} (it had not started)`;
    case "requested":
      return `Cancellation requested for run ${outcome.id}; it is running and will stop`;
    case "finished":
      return `Run ${outcome.id} already finished (${outcome.status}); nothing to cancel`;
  }
}
