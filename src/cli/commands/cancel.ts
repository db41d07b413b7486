/**
 * `reproq cancel --id ID`: cancels a run. One that has not started ends CANCELLED at once; a
 * running one is asked to stop (its handler's AbortSignal fires); a finished one is left alone.
 */
import { type CancelOutcome, cancelRunById } from "../../ops/cancel.js";
import { defineCommand } from "../define.js";
import { runIdFlag } from "../flags.js";

const EXAMPLES = `
Examples:
  $ reproq cancel --id 42               cancel run 42
  $ reproq --json cancel --id 42        print { id, previousStatus, status, outcome }

Cancelling a finished run is not an error (exit 0); an unknown id exits 1.
`;

export const cancelCommand = defineCommand({
  name: "cancel",
  description: "cancel a run: at once if it has not started, else ask its worker to stop it",
  options: [{ flags: "--id <id>", description: "the run to cancel", required: true }],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: { id: string }) => runIdFlag(flags.id),
  run: (ctx, id) => cancelRunById(ctx.db, ctx.schema, id),
  text: describe,
});

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
