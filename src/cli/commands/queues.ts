/** `reproq pause-queue NAME [--reason TEXT]` and `reproq resume-queue NAME`. */
import type { Command } from "commander";
import { pauseQueueIn, type QueueControl, resumeQueueIn } from "../../ops/flow.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";

const PAUSE_EXAMPLES = `
Examples:
  $ reproq pause-queue emails --reason "provider outage"
  $ reproq resume-queue emails

Nothing is claimed from a paused queue; runs already running finish.
`;

function describe(control: QueueControl): string {
  return control.paused
    ? `Paused queue ${control.queue}${control.reason ? ` (${control.reason})` : ""}`
    : `Resumed queue ${control.queue}`;
}

export function registerQueueCommands(program: Command): void {
  program
    .command("pause-queue")
    .description("pause a queue: no new claims until it is resumed")
    .argument("<name>", "queue name")
    .option("--reason <text>", "why (shown in stats and the dashboard)")
    .addHelpText("after", PAUSE_EXAMPLES)
    .action(async (name: string, _flags: { reason?: string }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & { reason?: string }>();
      const config = await resolveCliConfig(opts);
      const control = await withPool(
        config,
        (pool) => pauseQueueIn(pool, config.values.schema, name, opts.reason),
        {
          max: 1,
        },
      );
      output(opts, control, describe);
    });

  program
    .command("resume-queue")
    .description("resume a paused queue")
    .argument("<name>", "queue name")
    .addHelpText("after", PAUSE_EXAMPLES)
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const config = await resolveCliConfig(opts);
      const control = await withPool(config, (pool) => resumeQueueIn(pool, config.values.schema, name), {
        max: 1,
      });
      output(opts, control, describe);
    });
}
