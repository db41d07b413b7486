/** `reproq schedule`: one scheduler tick for crontab (the same as `reproq beat --once`). */
import type { Command } from "commander";
import type { GlobalOptions } from "../context.js";
import { type BeatFlags, oneShot } from "./beat.js";

const EXAMPLES = `
Examples:
  $ reproq schedule                        enqueue every due schedule once, then exit
  $ reproq --json schedule                 print { schema, leader, schedules }
  * * * * * cd /app && reproq schedule     (a crontab line: one tick a minute)

Exits 0 without enqueueing when another scheduler (a beat) is active, and says so.
`;

export function registerScheduleCommand(program: Command): void {
  program
    .command("schedule")
    .description("enqueue due periodic tasks once (for crontab); same as `reproq beat --once`")
    .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: BeatFlags, cmd: Command) => {
      await oneShot(cmd.optsWithGlobals<GlobalOptions & BeatFlags>());
    });
}
