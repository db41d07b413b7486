/**
 * What a task is, apart from how it is enqueued: its option types, the definition's shape, and
 * the validators every producer shares (task(), enqueue, bulk, workflows, schedules). A leaf: it
 * imports nothing that enqueues or runs, so resolve-run, the registry, the backend and the worker
 * can all depend on it without a loop back through task().
 */

import { didYouMean } from "./config/suggest.js";
import type { Queryable } from "./db/pool.js";
import { type Duration, parseDuration } from "./duration.js";
import { InvalidInputError } from "./errors.js";
import type { RunIdInput } from "./ids.js";
import type { TaskResult } from "./result.js";

/** Per-key concurrency (the seed's limits_concurrency): at most `limit` runs with the same key run at once. */
export interface ConcurrencyOption<A extends unknown[]> {
  key: (...args: A) => string;
  limit: number;
}

export interface TaskOptions<A extends unknown[] = unknown[]> {
  /** Queue name (default: config defaultQueue, "default"). */
  queue?: string;
  /** -100..100; higher runs first. Default 0. */
  priority?: number;
  /** Total attempts including the first (default: config maxAttempts, 3). */
  maxAttempts?: number;
  /** Hard timeout per attempt (default: config timeoutSeconds, 900 s). */
  timeout?: Duration;
  /** Runs not started within this time end EXPIRED (default: config expiresIn, none). */
  expiresIn?: Duration;
  /** The handler receives a TaskContext as its first argument. */
  takesContext?: boolean;
  concurrency?: ConcurrencyOption<A>;
  /** Retry delays for this task (default: the retryBase, retryCap and retryJitter settings). */
  retry?: { base?: Duration; cap?: Duration; jitter?: number };
  /** Default lock key: no two runs with the same key run at once. */
  lockKey?: string | ((...args: A) => string);
}

/** Per-enqueue options, given with .using(...) or as the third element of a bulk item. */
export interface EnqueueOptions<A extends unknown[] = unknown[]> {
  /** A Date (absolute, part of the spec) or a delay: milliseconds or "10m" (relative, not hashed). */
  runAfter?: Date | Duration;
  priority?: number;
  queue?: string;
  lockKey?: string;
  concurrencyKey?: string | ((...args: A) => string);
  concurrencyLimit?: number;
  expiresIn?: Duration;
  maxAttempts?: number;
  timeout?: Duration;
  /** A node-postgres client inside your transaction: the run commits or rolls back with your work. */
  client?: Queryable;
}

/** Something that can be enqueued: a definition or a configured copy of one. */
export interface Enqueueable<A extends unknown[], R> {
  readonly definition: TaskDefinition<A, R>;
  enqueue(...args: A): Promise<TaskResult<R>>;
  using(options: EnqueueOptions<A>): ConfiguredTask<A, R>;
}

export interface ConfiguredTask<A extends unknown[], R> extends Enqueueable<A, R> {
  readonly enqueueOptions: Readonly<EnqueueOptions<A>>;
}

export interface TaskDefinition<A extends unknown[] = unknown[], R = unknown> extends Enqueueable<A, R> {
  readonly name: string;
  readonly options: Readonly<TaskOptions<A>>;
  readonly takesContext: boolean;
  /**
   * The handler as written: `(...args)` or, with takesContext, `(ctx, ...args)`.
   * Typed loosely because the two shapes differ; the worker calls it with the right one.
   */
  readonly handler: (...args: never[]) => unknown;
  getResult(id: RunIdInput): Promise<TaskResult<R>>;
}

// Every option key, so a misspelled one (plain JavaScript has no type check) is refused by name.
const TASK_OPTION_KEYS = Object.keys({
  queue: true,
  priority: true,
  maxAttempts: true,
  timeout: true,
  expiresIn: true,
  takesContext: true,
  concurrency: true,
  retry: true,
  lockKey: true,
} satisfies Record<keyof TaskOptions, true>);

export const ENQUEUE_OPTION_KEYS = Object.keys({
  runAfter: true,
  priority: true,
  queue: true,
  lockKey: true,
  concurrencyKey: true,
  concurrencyLimit: true,
  expiresIn: true,
  maxAttempts: true,
  timeout: true,
  client: true,
} satisfies Record<keyof EnqueueOptions, true>);

/**
 * Refuses an options value that is not an object or has a key outside `known`, naming the key and
 * the closest known one. `what` names the options in the message, e.g. "option" or "retry option".
 */
export function checkOptionKeys(
  options: unknown,
  known: readonly string[],
  what: string,
  where: string,
): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidInputError(`${where}: ${what}s must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const hint = didYouMean(key, known) || `; known ${what}s: ${known.join(", ")}`;
      throw new InvalidInputError(`${where}: unknown ${what} "${key}"${hint}`);
    }
  }
}

/** Refuses enqueue options (`.using()`, a bulk item's third element) with an unknown key. */
export function checkEnqueueOptionKeys(options: unknown, where: string): void {
  checkOptionKeys(options, ENQUEUE_OPTION_KEYS, "enqueue option", where);
}

export const TASK_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$/;

export function validatePriority(priority: unknown, where: string): number {
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < -100 || priority > 100) {
    throw new InvalidInputError(
      `${where}: priority must be an integer from -100 to 100, got ${String(priority)}`,
    );
  }
  return priority;
}

export function validateMaxAttempts(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 1000) {
    throw new InvalidInputError(
      `${where}: maxAttempts must be an integer from 1 to 1000, got ${String(value)}`,
    );
  }
  return value;
}

const MAX_QUEUE_NAME = 200;

export function validateQueueName(queue: unknown, where: string): string {
  if (typeof queue === "string" && queue.length > MAX_QUEUE_NAME) {
    throw new InvalidInputError(
      `${where}: queue name is ${queue.length} characters, over the limit of ${MAX_QUEUE_NAME}; use a shorter name (${JSON.stringify(`${queue.slice(0, 20)}...`)})`,
    );
  }
  if (typeof queue !== "string" || queue.trim() === "" || /\s/.test(queue)) {
    throw new InvalidInputError(
      `${where}: queue must be a non-empty name without spaces, got ${JSON.stringify(queue)}`,
    );
  }
  return queue;
}

export function validateConcurrencyLimit(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new InvalidInputError(
      `${where}: concurrencyLimit must be an integer >= 0 (0 disables), got ${String(value)}`,
    );
  }
  return value;
}

/** Timeout in whole seconds (rounded up), at least 1. */
export function timeoutToSeconds(timeout: Duration, where: string): number {
  const ms = parseDuration(timeout, { name: `${where}: timeout` });
  if (ms <= 0) throw new InvalidInputError(`${where}: timeout must be greater than 0`);
  return Math.max(1, Math.ceil(ms / 1000));
}

export function validateOptions<A extends unknown[]>(name: string, options: TaskOptions<A>): void {
  const where = `task "${name}"`;
  checkOptionKeys(options, TASK_OPTION_KEYS, "option", where);
  if (options.queue !== undefined) validateQueueName(options.queue, where);
  if (options.priority !== undefined) validatePriority(options.priority, where);
  if (options.maxAttempts !== undefined) validateMaxAttempts(options.maxAttempts, where);
  if (options.timeout !== undefined) timeoutToSeconds(options.timeout, where);
  if (options.expiresIn !== undefined) parseDuration(options.expiresIn, { name: `${where}: expiresIn` });
  if (options.retry !== undefined) {
    checkOptionKeys(options.retry, ["base", "cap", "jitter"], "retry option", where);
    if (options.retry.base !== undefined) parseDuration(options.retry.base, { name: `${where}: retry.base` });
    if (options.retry.cap !== undefined) parseDuration(options.retry.cap, { name: `${where}: retry.cap` });
    const jitter = options.retry.jitter;
    if (jitter !== undefined && (typeof jitter !== "number" || jitter < 0 || jitter > 1)) {
      throw new InvalidInputError(`${where}: retry.jitter must be a number from 0 to 1`);
    }
  }
  if (options.concurrency !== undefined) {
    checkOptionKeys(options.concurrency, ["key", "limit"], "concurrency option", where);
    if (typeof options.concurrency.key !== "function") {
      throw new InvalidInputError(`${where}: concurrency.key must be a function of the task's arguments`);
    }
    validateConcurrencyLimit(options.concurrency.limit, `${where}: concurrency.limit`);
  }
}
