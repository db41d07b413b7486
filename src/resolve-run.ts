/**
 * Resolves what a run of a task will be from its definition, its arguments, per-enqueue options
 * and the configuration: queue, priority, keys, retries, timeout, expiry and the spec with its
 * hash. Enqueue, bulk enqueue, workflows and saved schedules all go through this one function,
 * so a scheduled run is exactly the run `.enqueue()` would make.
 */
import { buildSpec, type RunSpec, specHash } from "./codec/spec.js";
import type { ReproqConfig } from "./config/schema.js";
import { parseDuration } from "./duration.js";
import { InvalidInputError } from "./errors.js";
import {
  type EnqueueOptions,
  type TaskDefinition,
  timeoutToSeconds,
  validateConcurrencyLimit,
  validateMaxAttempts,
  validatePriority,
  validateQueueName,
} from "./task.js";

export type ResolveConfig = Pick<
  ReproqConfig,
  "defaultQueue" | "allowedQueues" | "maxAttempts" | "timeoutSeconds" | "expiresIn" | "maxPayloadBytes"
>;

export interface ResolvedRun {
  queue: string;
  priority: number;
  /** Absolute start time, or null (then `delayMs` from the database clock applies). */
  runAt: Date | null;
  delayMs: number;
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  expiresInMs: number | null;
  maxAttempts: number;
  timeoutSeconds: number;
  spec: RunSpec;
  canonical: string;
  hash: string;
}

/** `where` names the run in error messages, e.g. `task "emails.send"`. */
export function resolveRun(
  definition: TaskDefinition,
  args: readonly unknown[],
  options: EnqueueOptions,
  config: ResolveConfig,
  where: string,
  workflow?: { id: string; step: number },
): ResolvedRun {
  const taskOptions = definition.options;
  const argList = [...args];

  const queue = validateQueueName(options.queue ?? taskOptions.queue ?? config.defaultQueue, where);
  if (config.allowedQueues && !config.allowedQueues.includes(queue)) {
    throw new InvalidInputError(
      `${where}: unknown queue "${queue}"; allowed queues are ${config.allowedQueues.join(", ")} (setting allowedQueues)`,
    );
  }
  const priority = validatePriority(options.priority ?? taskOptions.priority ?? 0, where);

  let runAt: Date | null = null;
  let delayMs = 0;
  if (options.runAfter instanceof Date) {
    if (Number.isNaN(options.runAfter.getTime()))
      throw new InvalidInputError(`${where}: runAfter is an invalid Date`);
    runAt = options.runAfter;
  } else if (options.runAfter !== undefined) {
    delayMs = parseDuration(options.runAfter, { name: `${where}: runAfter` });
  }

  const lockKey = optionalKey(
    options.lockKey ??
      (typeof taskOptions.lockKey === "function" ? taskOptions.lockKey(...argList) : taskOptions.lockKey),
    `${where}: lockKey`,
  );
  const keySource = options.concurrencyKey ?? taskOptions.concurrency?.key;
  const concurrencyKey = optionalKey(
    typeof keySource === "function" ? keySource(...argList) : keySource,
    `${where}: concurrencyKey`,
  );
  const concurrencyLimit =
    concurrencyKey === null
      ? 0
      : validateConcurrencyLimit(options.concurrencyLimit ?? taskOptions.concurrency?.limit ?? 0, where);

  const expiresSource = options.expiresIn ?? taskOptions.expiresIn;
  const expiresInMs =
    expiresSource !== undefined
      ? parseDuration(expiresSource, { name: `${where}: expiresIn` })
      : (config.expiresIn ?? null);
  const maxAttempts = validateMaxAttempts(
    options.maxAttempts ?? taskOptions.maxAttempts ?? config.maxAttempts,
    where,
  );
  const timeoutSource = options.timeout ?? taskOptions.timeout;
  const timeoutSeconds =
    timeoutSource !== undefined ? timeoutToSeconds(timeoutSource, where) : config.timeoutSeconds;

  const spec = buildSpec({
    taskPath: definition.name,
    args: argList,
    queueName: queue,
    priority,
    lockKey,
    concurrencyKey,
    concurrencyLimit,
    runAfter: runAt,
    workflow: workflow ?? null,
    maxPayloadBytes: config.maxPayloadBytes,
  });
  const { canonical, hash } = specHash(spec);
  return {
    queue,
    priority,
    runAt,
    delayMs,
    lockKey,
    concurrencyKey,
    concurrencyLimit,
    expiresInMs,
    maxAttempts,
    timeoutSeconds,
    spec,
    canonical,
    hash,
  };
}

function optionalKey(value: unknown, where: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") {
    throw new InvalidInputError(`${where} must be a string, got ${typeof value}`);
  }
  const trimmed = value.trim();
  if (trimmed.length > 500) throw new InvalidInputError(`${where} is longer than 500 characters`);
  return trimmed === "" ? null : trimmed;
}
