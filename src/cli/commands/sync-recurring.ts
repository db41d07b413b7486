/**
 * `reproq sync-recurring`: saves the schedules that task modules declare with recurring()
 * (source "code") and disables code-defined schedules that are gone. Also run after
 * `reproq migrate` when task modules are configured, unless REPROQ_RECURRING_AUTOSYNC=false.
 */
import { ConfigError } from "../../errors.js";
import { type SyncResult, syncRecurringFromModules } from "../../ops/recurring.js";
import { defineCommand } from "../define.js";
import { tasksOption } from "../options.js";

const EXAMPLES = `
Examples:
  $ reproq sync-recurring --tasks "dist/tasks/**/*.js"
  $ REPROQ_TASKS=dist/tasks/*.js reproq --json sync-recurring

Manual schedules (saved with upsertSchedule) are never changed or disabled.
`;

export function describeSync(result: SyncResult): string[] {
  const part = (label: string, names: string[]) => (names.length ? [`${label}: ${names.join(", ")}`] : []);
  const lines = [
    ...part("Added", result.added),
    ...part("Updated", result.updated),
    ...part("Unchanged", result.unchanged),
    ...part("Disabled", result.disabled),
    ...part("Skipped (a manual schedule has this name)", result.conflicts),
  ];
  return lines.length ? lines : ["No recurring schedules defined and none to disable"];
}

export const syncRecurringCommand = defineCommand({
  name: "sync-recurring",
  description: "save schedules declared with recurring() and disable code-defined ones that are gone",
  options: [tasksOption()],
  help: EXAMPLES,
  database: { max: 1 },
  run: (ctx) => {
    if (!ctx.config.values.tasks?.length) {
      throw new ConfigError(
        "no task modules configured: pass --tasks or set tasks (REPROQ_TASKS), so the recurring() definitions can be found",
      );
    }
    return syncRecurringFromModules(ctx.db, ctx.config.values, ctx.cwd);
  },
  text: describeSync,
});
