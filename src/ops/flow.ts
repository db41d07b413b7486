/**
 * Flow-control operations: token-bucket rate limits and queue pause/resume. The core
 * functions take a database (the CLI passes its own pool); the public ones use getBackend().
 */
import { guarded, type Queryable } from "../db/pool.js";
import { validateQueueName } from "../definition.js";
import { InvalidInputError } from "../errors.js";
import { getBackend } from "../runtime.js";
import {
  deleteRateLimitRow,
  selectQueueControls,
  selectRateLimits,
  setQueuePaused,
  upsertRateLimit,
} from "../sql/flow.js";

export interface RateLimitInput {
  /** "global", "queue:<name>" or "task:<name>"; a task bucket beats a queue bucket beats global. */
  key: string;
  /** Tokens per second; 0 switches the bucket off. */
  rate: number;
  /** Largest burst (bucket size); default max(1, ceil(rate)). */
  burst?: number;
}

export interface RateLimit {
  key: string;
  rate: number;
  burst: number;
  /** Tokens available now. */
  available: number;
  updatedAt: Date;
}

export interface QueueControl {
  queue: string;
  paused: boolean;
  pausedAt: Date | null;
  reason: string | null;
  updatedAt: Date;
}

const KEY = /^(global|queue:.+|task:.+)$/;

export function validateRateLimitKey(key: unknown): string {
  if (typeof key !== "string" || !KEY.test(key.trim())) {
    throw new InvalidInputError(
      `rate-limit key ${JSON.stringify(key)} is not valid; use "global", "queue:<queue name>" or "task:<task name>"`,
    );
  }
  return key.trim();
}

function validateLimit(input: RateLimitInput): { key: string; rate: number; burst: number } {
  const key = validateRateLimitKey(input?.key);
  const { rate } = input;
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0) {
    throw new InvalidInputError(
      `rate limit ${key}: rate must be a number of tokens per second >= 0, got ${String(rate)}`,
    );
  }
  const burst = input.burst ?? Math.max(1, Math.ceil(rate));
  if (typeof burst !== "number" || !Number.isInteger(burst) || burst < 1) {
    throw new InvalidInputError(
      `rate limit ${key}: burst must be an integer >= 1, got ${String(input.burst)}`,
    );
  }
  return { key, rate, burst };
}

export async function setRateLimitIn(
  db: Queryable,
  schema: string,
  input: RateLimitInput,
): Promise<RateLimit> {
  const { key, rate, burst } = validateLimit(input);
  await guarded(schema, () => upsertRateLimit(db, schema, key, rate, burst));
  const limits = await listRateLimitsIn(db, schema);
  return limits.find((l) => l.key === key)!;
}

export async function listRateLimitsIn(db: Queryable, schema: string): Promise<RateLimit[]> {
  const rows = await guarded(schema, () => selectRateLimits(db, schema));
  return rows.map((r) => ({
    key: r.key,
    rate: r.tokens_per_second,
    burst: r.burst_size,
    available: Math.floor(r.available * 1000) / 1000,
    updatedAt: r.updated_at,
  }));
}

/** Returns whether a bucket was deleted. */
export async function deleteRateLimitIn(db: Queryable, schema: string, key: string): Promise<boolean> {
  const valid = validateRateLimitKey(key);
  return (await guarded(schema, () => deleteRateLimitRow(db, schema, valid))) > 0;
}

function toControl(row: Awaited<ReturnType<typeof setQueuePaused>>): QueueControl {
  return {
    queue: row.queue_name,
    paused: row.paused,
    pausedAt: row.paused_at,
    reason: row.reason,
    updatedAt: row.updated_at,
  };
}

export async function pauseQueueIn(
  db: Queryable,
  schema: string,
  queue: string,
  reason?: string,
): Promise<QueueControl> {
  validateQueueName(queue, "pauseQueue");
  return toControl(
    await guarded(schema, () => setQueuePaused(db, schema, queue, true, reason?.trim() || null)),
  );
}

export async function resumeQueueIn(db: Queryable, schema: string, queue: string): Promise<QueueControl> {
  validateQueueName(queue, "resumeQueue");
  return toControl(await guarded(schema, () => setQueuePaused(db, schema, queue, false, null)));
}

export async function listQueueControlsIn(db: Queryable, schema: string): Promise<QueueControl[]> {
  return (await guarded(schema, () => selectQueueControls(db, schema))).map(toControl);
}

async function defaultDb(): Promise<[Queryable, string]> {
  const backend = getBackend();
  return Promise.all([backend.pool(), backend.schema()]);
}

/** Sets (or changes) a token bucket: `setRateLimit({ key: "queue:emails", rate: 5, burst: 10 })`. */
export async function setRateLimit(input: RateLimitInput): Promise<RateLimit> {
  validateLimit(input);
  return setRateLimitIn(...(await defaultDb()), input);
}

export async function listRateLimits(): Promise<RateLimit[]> {
  return listRateLimitsIn(...(await defaultDb()));
}

export async function deleteRateLimit(key: string): Promise<boolean> {
  validateRateLimitKey(key);
  return deleteRateLimitIn(...(await defaultDb()), key);
}

/** Nothing is claimed from a paused queue; running work finishes. */
export async function pauseQueue(queue: string, options: { reason?: string } = {}): Promise<QueueControl> {
  validateQueueName(queue, "pauseQueue");
  return pauseQueueIn(...(await defaultDb()), queue, options.reason);
}

export async function resumeQueue(queue: string): Promise<QueueControl> {
  validateQueueName(queue, "resumeQueue");
  return resumeQueueIn(...(await defaultDb()), queue);
}

export async function listQueueControls(): Promise<QueueControl[]> {
  return listQueueControlsIn(...(await defaultDb()));
}
