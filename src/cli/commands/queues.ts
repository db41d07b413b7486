/** `reproq pause-queue NAME [--reason TEXT]` and `reproq resume-queue NAME`. */
import { pauseQueueIn, type QueueControl, resumeQueueIn } from "../../ops/flow.js";
import { defineCommand } from "../define.js";

const PAUSE_EXAMPLES = `
Examples:
  $ reproq pause-queue emails --reason "provider outage"
  $ reproq resume-queue emails

Nothing is claimed from a paused queue; runs already running finish.
`;

const QUEUE_ARGUMENT = [{ name: "<name>", description: "queue name" }];

function describe(control: QueueControl): string {
  return control.paused
    ? `Paused queue ${control.queue}${control.reason ? ` (${control.reason})` : ""}`
    : `Resumed queue ${control.queue}`;
}

export const pauseQueueCommand = defineCommand({
  name: "pause-queue",
  description: "pause a queue: no new claims until it is resumed",
  arguments: QUEUE_ARGUMENT,
  options: [{ flags: "--reason <text>", description: "why (shown in stats and the dashboard)" }],
  help: PAUSE_EXAMPLES,
  database: { max: 1 },
  parse: (flags: { reason?: string }, [name]) => ({ name: name!, reason: flags.reason }),
  run: (ctx, { name, reason }) => pauseQueueIn(ctx.db, ctx.schema, name, reason),
  text: describe,
});

export const resumeQueueCommand = defineCommand({
  name: "resume-queue",
  description: "resume a paused queue",
  arguments: QUEUE_ARGUMENT,
  help: PAUSE_EXAMPLES,
  database: { max: 1 },
  parse: (_flags, [name]) => name!,
  run: (ctx, name) => resumeQueueIn(ctx.db, ctx.schema, name),
  text: describe,
});
