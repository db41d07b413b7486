/**
 * Recurring schedules from code: import the task modules (which declare them with recurring()),
 * save them as schedules of source "code" and disable code-defined ones that are gone. Manual
 * schedules are never touched.
 */
import type pg from "pg";
import type { ReproqConfig } from "../config/schema.js";
import { type SyncResult, syncRecurringIn } from "../scheduler/recurring.js";
import { importTaskModules } from "../worker/discovery.js";

export type { SyncResult } from "../scheduler/recurring.js";

/** Imports `config.tasks` (globs relative to `cwd`) and syncs what they declare. */
export async function syncRecurringFromModules(
  pool: pg.Pool,
  config: ReproqConfig,
  cwd: string,
): Promise<SyncResult> {
  await importTaskModules(config.tasks ?? [], cwd);
  return syncRecurringIn(pool, config.schema, config);
}

/** REPROQ_RECURRING_AUTOSYNC=false (or 0, no, off) turns the sync after migrating off. */
export function recurringAutosyncEnabled(env: NodeJS.ProcessEnv): boolean {
  return !/^(false|0|no|off)$/i.test(env.REPROQ_RECURRING_AUTOSYNC ?? "");
}

/**
 * The sync that follows a migration, so schedules follow the code on every deploy: only when task
 * modules are configured and autosync is on. Returns null when it did nothing.
 */
export async function autosyncRecurring(
  pool: pg.Pool,
  config: ReproqConfig,
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<SyncResult | null> {
  if (!recurringAutosyncEnabled(options.env) || !config.tasks?.length) return null;
  return syncRecurringFromModules(pool, config, options.cwd);
}
