/**
 * Resolves what a run of a task will be from its definition, its arguments, per-enqueue options
 * and the configuration: queue, priority, keys, retries, timeout, expiry and the spec with its
 * hash. Enqueue, bulk enqueue, workflows and saved schedules all go through this one function,
 * so a scheduled run is exactly the run `.enqueue()` would make.
 */
import { Buffer } from "node:buffer";
import { canonicalJson, sha256Hex } from "./codec/canonical.js";
import { buildSpec, canonicalSpecTail, type RunSpec, type SpecTailInput, specHash } from "./codec/spec.js";
import { checkPayloadBytes, encodeArgs, type JsonValue } from "./codec/tagged.js";
import type { ReproqConfig } from "./config/schema.js";
import {
  checkEnqueueOptionKeys,
  type EnqueueOptions,
  type TaskDefinition,
  timeoutToSeconds,
  validateConcurrencyLimit,
  validateMaxAttempts,
  validatePriority,
  validateQueueName,
} from "./definition.js";
import { parseDuration } from "./duration.js";
import { InvalidInputError } from "./errors.js";

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
  const base = resolveBase(definition, options, config, where);
  const row = resolveWithBase(base, args, where, workflow ?? null, config.maxPayloadBytes);
  const spec = buildSpec({
    taskPath: definition.name,
    args: [...args],
    queueName: base.queue,
    priority: base.priority,
    lockKey: row.lockKey,
    concurrencyKey: row.concurrencyKey,
    concurrencyLimit: row.concurrencyLimit,
    runAfter: base.runAt,
    workflow: workflow ?? null,
    maxPayloadBytes: config.maxPayloadBytes,
  });
  return {
    queue: base.queue,
    priority: base.priority,
    runAt: base.runAt,
    delayMs: base.delayMs,
    lockKey: row.lockKey,
    concurrencyKey: row.concurrencyKey,
    concurrencyLimit: row.concurrencyLimit,
    expiresInMs: base.expiresInMs,
    maxAttempts: base.maxAttempts,
    timeoutSeconds: base.timeoutSeconds,
    spec,
    canonical: row.canonical,
    hash: row.hash,
  };
}

/** What a run gets from its task, options and configuration alone, whatever its arguments. */
export interface RunBase {
  definition: TaskDefinition;
  queue: string;
  priority: number;
  runAt: Date | null;
  delayMs: number;
  expiresInMs: number | null;
  maxAttempts: number;
  timeoutSeconds: number;
  lockSource: unknown;
  lockIsFunction: boolean;
  keySource: unknown;
  limitSource: unknown;
  /** Canonical spec tail for the last lockKey/concurrencyKey/workflow seen (they usually repeat). */
  tail: {
    lockKey: string | null;
    concurrencyKey: string | null;
    workflowId: string | null;
    step: number;
    text: string;
  } | null;
}

/** The per-arguments part of a run. */
export interface RunRow {
  lockKey: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number;
  encodedArgs: JsonValue[];
  canonical: string;
  hash: string;
}

/**
 * Resolves the argument-independent part of a run; validation errors name `where`. The result may
 * be reused for every run of the same task with the same options object (bulk enqueue does).
 */
export function resolveBase(
  definition: TaskDefinition,
  options: EnqueueOptions,
  config: ResolveConfig,
  where: string,
): RunBase {
  checkEnqueueOptionKeys(options, where);
  const taskOptions = definition.options;
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
  return {
    definition,
    queue,
    priority,
    runAt,
    delayMs,
    expiresInMs,
    maxAttempts,
    timeoutSeconds,
    // Only the task's own lockKey may be a function of the arguments; an enqueue's is taken as given.
    lockSource: options.lockKey ?? taskOptions.lockKey,
    lockIsFunction: options.lockKey == null && typeof taskOptions.lockKey === "function",
    keySource: options.concurrencyKey ?? taskOptions.concurrency?.key,
    limitSource: options.concurrencyLimit ?? taskOptions.concurrency?.limit ?? 0,
    tail: null,
  };
}

/**
 * Resolves the argument-dependent part (keys computed from the arguments, the encoded arguments, the
 * canonical spec and its hash) without building the spec object: the canonical text is written
 * directly, identical to specHash(buildSpec(...)).canonical.
 */
export function resolveWithBase(
  base: RunBase,
  args: readonly unknown[],
  where: string,
  workflow: { id: string; step: number } | null,
  maxPayloadBytes: number | undefined,
): RunRow {
  const { lockSource, keySource } = base;
  const lockKey = optionalKey(
    base.lockIsFunction ? (lockSource as (...a: unknown[]) => unknown)(...args) : lockSource,
    `${where}: lockKey`,
  );
  const concurrencyKey = optionalKey(
    typeof keySource === "function" ? keySource(...args) : keySource,
    `${where}: concurrencyKey`,
  );
  const concurrencyLimit = concurrencyKey === null ? 0 : validateConcurrencyLimit(base.limitSource, where);

  const encodedArgs = encodeArgs(args);
  const argsText = canonicalJson(encodedArgs);
  // RFC 8785 text differs from JSON.stringify only in key order, so its byte length is the payload size.
  if (maxPayloadBytes !== undefined) {
    checkPayloadBytes(Buffer.byteLength(argsText, "utf8"), "args", maxPayloadBytes);
  }

  let tail = base.tail;
  if (
    tail === null ||
    tail.lockKey !== lockKey ||
    tail.concurrencyKey !== concurrencyKey ||
    tail.workflowId !== (workflow?.id ?? null) ||
    tail.step !== (workflow?.step ?? -1)
  ) {
    const fields: SpecTailInput = {
      taskPath: base.definition.name,
      queueName: base.queue,
      priority: base.priority,
      lockKey,
      concurrencyKey,
      concurrencyLimit,
      runAfter: base.runAt,
      workflow,
    };
    const text = canonicalSpecTail(fields);
    if (text === undefined) {
      // A string with no canonical form: buildSpec + specHash report it exactly as before.
      specHash(buildSpec({ ...fields, args: [...args] }));
      throw new InvalidInputError(`${where}: the run spec has no canonical JSON form`);
    }
    tail = { lockKey, concurrencyKey, workflowId: workflow?.id ?? null, step: workflow?.step ?? -1, text };
    base.tail = tail;
  }
  const canonical = `{"args":${argsText}${tail.text}`;
  return { lockKey, concurrencyKey, concurrencyLimit, encodedArgs, canonical, hash: sha256Hex(canonical) };
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
