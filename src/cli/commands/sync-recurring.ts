/**
 * `reproq sync-recurring`: saves the schedules that task modules declare with recurring()
 * (source "code") and disables code-defined schedules that are gone. Also run after
 * `reproq migrate` when task modules are configured, unless REPROQ_RECURRING_AUTOSYNC=false.
 */
import type { Command } from "commander";
import type pg from "pg";
import type { ResolvedConfig } from "../../config/load.js";
import type { ConfigKey } from "../../config/schema.js";
import { ConfigError } from "../../errors.js";
import { type SyncResult, syncRecurringIn } from "../../scheduler/recurring.js";
import { importTaskModules } from "../../worker/discovery.js";
import { type GlobalOptions, output, printLines, resolveCliConfig, withPool } from "../context.js";

interface SyncFlags {
  tasks?: string[];
}

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

/** Flags for --tasks as configuration overrides. */
export function tasksFlag(tasks: string[] | undefined): {
  flags: Partial<Record<ConfigKey, unknown>>;
  names: Partial<Record<ConfigKey, string>>;
} {
  return tasks
    ? { flags: { tasks: tasks.join(",") }, names: { tasks: "--tasks" } }
    : { flags: {}, names: {} };
}

/**
 * After `reproq migrate`: syncs recurring schedules when task modules are configured, unless
 * REPROQ_RECURRING_AUTOSYNC=false. Returns null when it did nothing.
 */
export async function autosyncRecurring(pool: pg.Pool, config: ResolvedConfig): Promise<SyncResult | null> {
  if (/^(false|0|no|off)$/i.test(process.env.REPROQ_RECURRING_AUTOSYNC ?? "")) return null;
  const tasks = config.values.tasks;
  if (!tasks?.length) return null;
  await importTaskModules(tasks, process.cwd());
  return syncRecurringIn(pool, config.values.schema, config.values);
}

/** Prints an autosync result after migrate's own output (text mode only; --json stays one document). */
export function reportAutosync(opts: GlobalOptions, result: SyncResult | null): void {
  if (result && !opts.json) printLines(describeSync(result).map((line) => `Recurring schedules: ${line}`));
}

export function registerSyncRecurringCommand(program: Command): void {
  program
    .command("sync-recurring")
    .description("save schedules declared with recurring() and disable code-defined ones that are gone")
    .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: SyncFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & SyncFlags>();
      const { flags, names } = tasksFlag(opts.tasks);
      const config = await resolveCliConfig(opts, flags, names);
      const tasks = config.values.tasks;
      if (!tasks?.length) {
        throw new ConfigError(
          "no task modules configured: pass --tasks or set tasks (REPROQ_TASKS), so the recurring() definitions can be found",
        );
      }
      await importTaskModules(tasks, process.cwd());
      const result = await withPool(
        config,
        (pool) => syncRecurringIn(pool, config.values.schema, config.values),
        {
          max: 1,
        },
      );
      output(opts, result, describeSync);
    });
}
