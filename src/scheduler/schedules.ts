import { decodeArgs, encodeArgs, type JsonValue } from "../codec/tagged.js";
import type { ReproqConfig } from "../config/schema.js";
import { guarded, type Queryable } from "../db/pool.js";
import { checkOptionKeys, type TaskDefinition, validatePriority, validateQueueName } from "../definition.js";
import { InvalidInputError, ScheduleNotFoundError } from "../errors.js";
import { getTask } from "../registry.js";
import { resolveRun } from "../resolve-run.js";
import { getBackend } from "../runtime.js";
import {
  type CatchUpPolicy,
  deleteScheduleRow,
  type ScheduleRow,
  selectSchedule,
  selectSchedules,
  setNextRunNow,
  setScheduleEnabled,
  upsertScheduleRow,
} from "../sql/schedules.js";
import { type CronSchedule, parseCron } from "./cron.js";

export type { CatchUpPolicy } from "../sql/schedules.js";

export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ["one", "all", "none"];

export interface ScheduleInput {
  /** Unique schedule name (the periodic_tasks key; recorded in each run's provenance). */
  name: string;
  /** 5-field cron, or 6 fields with leading seconds. */
  cron: string;
  /** A task definition or the name of a task registered in this process (looked up by name either way). */
  task: Pick<TaskDefinition, "name"> | string;
  args?: readonly unknown[];
  /** Default: the task's queue, else the defaultQueue setting. */
  queue?: string;
  /** Default: the task's priority, else 0. */
  priority?: number;
  /** IANA timezone the cron expression is read in; default "UTC". */
  timezone?: string;
  /** Default true. */
  enabled?: boolean;
  /** Force the next run (e.g. `new Date()` to run on the next tick); default keeps or computes it. */
  nextRunAt?: Date;
  /** What to do with ticks missed while no scheduler ran; default "one". */
  catchUp?: CatchUpPolicy;
}

export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  args: unknown[];
  queue: string;
  priority: number;
  catchUp: CatchUpPolicy;
  enabled: boolean;
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  source: "code" | "manual";
  specHash: string | null;
  /** Disabled with `reproq schedules disable` (or disableScheduleIn); the recurring sync keeps it off. */
  disabledByOperator: boolean;
}

/** Execution settings stored in options_json, read by beat and enqueue_schedule(). */
export interface ScheduleRunOptions {
  max_attempts: number;
  timeout_seconds: number;
  expires_in_ms: number | null;
  dedup: boolean;
}

type SaveConfig = Pick<
  ReproqConfig,
  | "defaultQueue"
  | "allowedQueues"
  | "maxAttempts"
  | "timeoutSeconds"
  | "expiresIn"
  | "dedupActive"
  | "maxPayloadBytes"
>;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,199}$/;

export function validateScheduleName(name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidInputError(
      `schedule name ${JSON.stringify(name)} is not valid; use letters, digits and _ . : / @ - (at most 200 characters)`,
    );
  }
  return name;
}

function resolveTask(task: ScheduleInput["task"], where: string): TaskDefinition {
  const name = typeof task === "string" ? task : task?.name;
  if (typeof name !== "string" || name === "") {
    throw new InvalidInputError(`${where}: task must be a task definition or a registered task name`);
  }
  const found = getTask(name);
  if (!found) {
    throw new InvalidInputError(
      `${where}: unknown task "${name}"; it is not registered in this process (import the module that defines it, or pass --tasks)`,
    );
  }
  return found;
}

/** Reads a stored payload envelope `{ "args": [...] }`; a `kwargs` key is accepted only when empty. */
export function parsePayloadEnvelope(payload: unknown, where: string): JsonValue[] {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new InvalidInputError(`${where}: payload must be an object { "args": [...] }`);
  }
  const { args, kwargs, ...rest } = payload as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0)
    throw new InvalidInputError(`${where}: unexpected payload key(s) ${extra.join(", ")}`);
  if (
    kwargs !== undefined &&
    (kwargs === null || typeof kwargs !== "object" || Object.keys(kwargs).length > 0)
  ) {
    throw new InvalidInputError(
      `${where}: keyword arguments are not supported; payload "kwargs" must be empty`,
    );
  }
  if (args !== undefined && !Array.isArray(args))
    throw new InvalidInputError(`${where}: payload "args" must be an array`);
  return (args ?? []) as JsonValue[];
}

const SCHEDULE_INPUT_KEYS = Object.keys({
  name: true,
  cron: true,
  task: true,
  args: true,
  queue: true,
  priority: true,
  timezone: true,
  enabled: true,
  nextRunAt: true,
  catchUp: true,
} satisfies Record<keyof ScheduleInput, true>);

/** What checkScheduleInput() found valid. */
export interface CheckedSchedule {
  name: string;
  where: string;
  cron: CronSchedule;
  definition: TaskDefinition;
  args: unknown[];
  encodedArgs: JsonValue[];
  catchUp: CatchUpPolicy;
}

/**
 * Every check of a schedule that needs no configuration: name, cron and timezone, task, args
 * (encodable), queue, priority, catch-up, enabled, nextRunAt. prepareSchedule() runs it first;
 * recurring() runs it at the call, so a bad code-defined schedule fails where it is written.
 */
export function checkScheduleInput(input: ScheduleInput): CheckedSchedule {
  if (input === null || typeof input !== "object")
    throw new InvalidInputError("schedule: expected an options object");
  const name = validateScheduleName(input.name);
  const where = `schedule "${name}"`;
  checkOptionKeys(input, SCHEDULE_INPUT_KEYS, "schedule option", where);
  const cron = parseCron(input.cron, input.timezone ?? "UTC", `${where}: cron`);
  const definition = resolveTask(input.task, where);
  if (input.args !== undefined && !Array.isArray(input.args))
    throw new InvalidInputError(`${where}: args must be an array`);
  const args = [...(input.args ?? [])];
  const encodedArgs = encodeArgs(args);
  if (input.queue !== undefined) validateQueueName(input.queue, where);
  if (input.priority !== undefined) validatePriority(input.priority, where);
  const catchUp = input.catchUp ?? "one";
  if (!CATCH_UP_POLICIES.includes(catchUp)) {
    throw new InvalidInputError(
      `${where}: catchUp must be "one", "all" or "none", got ${JSON.stringify(catchUp)}`,
    );
  }
  if (input.enabled !== undefined && typeof input.enabled !== "boolean") {
    throw new InvalidInputError(`${where}: enabled must be a boolean`);
  }
  if (
    input.nextRunAt !== undefined &&
    !(input.nextRunAt instanceof Date && !Number.isNaN(input.nextRunAt.getTime()))
  ) {
    throw new InvalidInputError(`${where}: nextRunAt must be a valid Date`);
  }
  return { name, where, cron, definition, args, encodedArgs, catchUp };
}

/** Validates a schedule and computes everything stored with it (spec, hash, options, next tick). */
export function prepareSchedule(
  input: ScheduleInput,
  config: SaveConfig,
  source: "code" | "manual",
  now: Date = new Date(),
): Parameters<typeof upsertScheduleRow>[2] {
  const { name, where, cron, definition, args, encodedArgs, catchUp } = checkScheduleInput(input);
  // Exactly the run `.enqueue(...args)` would make, with the schedule's queue and priority.
  const run = resolveRun(definition, args, { queue: input.queue, priority: input.priority }, config, where);
  const runOptions: ScheduleRunOptions = {
    max_attempts: run.maxAttempts,
    timeout_seconds: run.timeoutSeconds,
    expires_in_ms: run.expiresInMs,
    dedup: config.dedupActive,
  };
  const next = cron.next(now);
  return {
    name,
    cronExpr: cron.expression,
    timezone: cron.timezone,
    taskPath: definition.name,
    queueName: run.queue,
    priority: run.priority,
    payloadJson: JSON.stringify({ args: encodedArgs }),
    optionsJson: JSON.stringify(runOptions),
    specCanonical: run.canonical,
    specHash: run.hash,
    catchUp,
    enabled: input.enabled ?? true,
    nextRunAt: input.nextRunAt ?? null,
    // A cron that never fires again was refused by parseCron, so `next` exists.
    computedNextRunAt: next ?? now,
    source,
  };
}

/** Trimmed key or null, as the enqueue path normalises lock and concurrency keys. */

export function toSchedule(row: ScheduleRow): Schedule {
  let args: unknown[] = [];
  try {
    args = decodeArgs(parsePayloadEnvelope(row.payload_json, `schedule "${row.name}"`));
  } catch {
    // A hand-written payload that does not decode is still listed; beat reports it when due.
  }
  return {
    name: row.name,
    cron: row.cron_expr,
    timezone: row.timezone,
    task: row.task_path,
    args,
    queue: row.queue_name,
    priority: row.priority,
    catchUp: row.catch_up,
    enabled: row.enabled,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    source: row.source,
    specHash: row.spec_hash,
    disabledByOperator: row.disabled_by_operator,
  };
}

export async function upsertScheduleIn(
  db: Queryable,
  schema: string,
  config: SaveConfig,
  input: ScheduleInput,
  source: "code" | "manual" = "manual",
): Promise<Schedule> {
  const write = prepareSchedule(input, config, source);
  const row = await guarded(schema, () => upsertScheduleRow(db, schema, write));
  return toSchedule(row!);
}

export async function listSchedulesIn(db: Queryable, schema: string): Promise<Schedule[]> {
  return (await guarded(schema, () => selectSchedules(db, schema))).map(toSchedule);
}

export async function getScheduleIn(db: Queryable, schema: string, name: string): Promise<Schedule | null> {
  const row = await guarded(schema, () => selectSchedule(db, schema, name));
  return row ? toSchedule(row) : null;
}

export async function deleteScheduleIn(db: Queryable, schema: string, name: string): Promise<boolean> {
  return guarded(schema, () => deleteScheduleRow(db, schema, name));
}

/** Makes the schedule due now: the next beat tick (or enqueue_schedule) runs it. */
export async function runScheduleNowIn(db: Queryable, schema: string, name: string): Promise<Schedule> {
  const row = await guarded(schema, () => setNextRunNow(db, schema, name));
  if (!row) throw new ScheduleNotFoundError(name);
  return toSchedule(row);
}

/**
 * Turns a schedule off and marks it as turned off by hand, so `reproq sync-recurring` (and the
 * sync after migrating) leaves a code-defined schedule disabled. Null when there is none.
 */
export async function disableScheduleIn(
  db: Queryable,
  schema: string,
  name: string,
): Promise<Schedule | null> {
  const row = await guarded(schema, () => setScheduleEnabled(db, schema, name, false, null));
  return row ? toSchedule(row) : null;
}

/**
 * Turns a schedule on again and clears the mark. A schedule that was off gets its next tick from
 * the cron expression after `now`: ticks missed while it was off are not owed. Null when there is none.
 */
export async function enableScheduleIn(
  db: Queryable,
  schema: string,
  name: string,
  now: Date = new Date(),
): Promise<Schedule | null> {
  const found = await guarded(schema, () => selectSchedule(db, schema, name));
  if (!found) return null;
  const next = parseCron(found.cron_expr, found.timezone, `schedule "${name}": cron`).next(now);
  const row = await guarded(schema, () => setScheduleEnabled(db, schema, name, true, next ?? now));
  return row ? toSchedule(row) : null;
}

/** Saves a schedule (source "manual") through the default backend; see ScheduleInput. */
export async function upsertSchedule(input: ScheduleInput): Promise<Schedule> {
  const backend = getBackend();
  return upsertScheduleIn(await backend.pool(), await backend.schema(), await backend.config(), input);
}

export async function listSchedules(): Promise<Schedule[]> {
  const backend = getBackend();
  return listSchedulesIn(await backend.pool(), await backend.schema());
}

/** Deletes a schedule; false when there was none. */
export async function deleteSchedule(name: string): Promise<boolean> {
  const backend = getBackend();
  return deleteScheduleIn(await backend.pool(), await backend.schema(), name);
}

export async function runScheduleNow(name: string): Promise<Schedule> {
  const backend = getBackend();
  return runScheduleNowIn(await backend.pool(), await backend.schema(), name);
}
