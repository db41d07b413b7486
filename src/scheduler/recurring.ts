/**
 * Schedules defined in code: `recurring(task, { schedule, key, args })` registers a schedule beside
 * the task, and syncRecurring() saves them all (source "code") and disables code-defined schedules
 * that no longer exist. Saving enables a schedule, except one disabled by an operator (`reproq
 * schedules disable`), which stays disabled until enabled again. Manual schedules are never
 * touched, even when a key collides with one.
 */
import type pg from "pg";
import { canonicalJson } from "../codec/canonical.js";
import type { JsonValue } from "../codec/tagged.js";
import type { ReproqConfig } from "../config/schema.js";
import { mapDatabaseError } from "../db/pool.js";
import { checkOptionKeys, type TaskDefinition } from "../definition.js";
import { InvalidInputError } from "../errors.js";
import { getBackend } from "../runtime.js";
import { disableMissingCodeSchedules, selectSchedules, upsertScheduleRow } from "../sql/schedules.js";
import {
  type CatchUpPolicy,
  checkScheduleInput,
  prepareSchedule,
  type ScheduleInput,
  validateScheduleName,
} from "./schedules.js";

export interface RecurringOptions<A extends unknown[]> {
  /** Cron expression (5 fields, or 6 with leading seconds). */
  schedule: string;
  /** The schedule's unique name in periodic_tasks. */
  key: string;
  args?: NoInfer<A>;
  /** IANA timezone; default "UTC". */
  timezone?: string;
  queue?: string;
  priority?: number;
  catchUp?: CatchUpPolicy;
}

interface RecurringEntry {
  key: string;
  definition: TaskDefinition;
  options: RecurringOptions<unknown[]>;
}

const entries = new Map<string, RecurringEntry>();

const RECURRING_OPTION_KEYS = Object.keys({
  schedule: true,
  key: true,
  args: true,
  timezone: true,
  queue: true,
  priority: true,
  catchUp: true,
} satisfies Record<keyof RecurringOptions<unknown[]>, true>);

function scheduleInput(
  key: string,
  definition: TaskDefinition,
  options: RecurringOptions<unknown[]>,
): ScheduleInput {
  return {
    name: key,
    cron: options.schedule,
    task: definition,
    args: options.args,
    timezone: options.timezone,
    queue: options.queue,
    priority: options.priority,
    catchUp: options.catchUp,
  };
}

/** Registers a code-defined schedule for `definition` and returns the definition unchanged. */
export function recurring<A extends unknown[], R>(
  definition: TaskDefinition<A, R>,
  options: RecurringOptions<A>,
): TaskDefinition<A, R> {
  if (!definition || typeof definition.name !== "string" || typeof definition.handler !== "function") {
    throw new InvalidInputError("recurring: the first argument must be a task created with task()");
  }
  checkOptionKeys(options, RECURRING_OPTION_KEYS, "recurring option", "recurring");
  const key = validateScheduleName(options.key);
  // Cron, timezone, args, queue and priority fail here, where they are written, not at the next sync.
  checkScheduleInput(
    scheduleInput(key, definition as unknown as TaskDefinition, options as RecurringOptions<unknown[]>),
  );
  const existing = entries.get(key);
  if (existing && existing.definition !== (definition as unknown as TaskDefinition)) {
    throw new InvalidInputError(`recurring: key "${key}" is used by two tasks; schedule keys must be unique`);
  }
  entries.set(key, {
    key,
    definition: definition as unknown as TaskDefinition,
    options: options as unknown as RecurringOptions<unknown[]>,
  });
  return definition;
}

export function recurringSchedules(): ReadonlyArray<{ key: string; task: string; schedule: string }> {
  return [...entries.values()].map((e) => ({
    key: e.key,
    task: e.definition.name,
    schedule: e.options.schedule,
  }));
}

/** Forgets every registration (for tests). */
export function clearRecurring(): void {
  entries.clear();
}

export interface SyncResult {
  added: string[];
  updated: string[];
  unchanged: string[];
  disabled: string[];
  /** Keys that name a manual schedule, which sync never overwrites. */
  conflicts: string[];
}

type SaveConfig = Parameters<typeof prepareSchedule>[1];

/** Saves every registered recurring schedule in one transaction. */
export async function syncRecurringIn(
  pool: pg.Pool,
  schema: string,
  config: SaveConfig,
): Promise<SyncResult> {
  // Everything is validated before the database is touched: one bad schedule changes nothing.
  const writes = [...entries.values()].map((e) =>
    prepareSchedule(scheduleInput(e.key, e.definition, e.options), config, "code"),
  );
  const result: SyncResult = { added: [], updated: [], unchanged: [], disabled: [], conflicts: [] };
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const before = new Map((await selectSchedules(client, schema)).map((r) => [r.name, r]));
    for (const write of writes) {
      const old = before.get(write.name);
      if (old && old.source !== "code") {
        result.conflicts.push(write.name);
        continue;
      }
      await upsertScheduleRow(client, schema, write, "code");
      if (!old) result.added.push(write.name);
      else if (
        // A schedule an operator disabled stays disabled: the sync changed nothing about it.
        (old.enabled || old.disabled_by_operator) &&
        old.spec_hash === write.specHash &&
        old.cron_expr === write.cronExpr &&
        old.timezone === write.timezone &&
        old.catch_up === write.catchUp &&
        canonicalJson(old.options_json as JsonValue) ===
          canonicalJson(JSON.parse(write.optionsJson) as JsonValue)
      )
        result.unchanged.push(write.name);
      else result.updated.push(write.name);
    }
    result.disabled = await disableMissingCodeSchedules(
      client,
      schema,
      writes.map((w) => w.name),
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw mapDatabaseError(error, schema);
  } finally {
    client.release();
  }
  return result;
}

/** syncRecurringIn() through the default backend. */
export async function syncRecurring(): Promise<SyncResult> {
  const backend = getBackend();
  const config: ReproqConfig = await backend.config();
  return syncRecurringIn(await backend.pool(), await backend.schema(), config);
}
