/** Rate-limit buckets and queue controls (pause/resume). */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface RateLimitRow {
  key: string;
  tokens_per_second: number;
  burst_size: number;
  /** Tokens available now (refilled to the database clock, not stored). */
  available: number;
  last_refilled_at: Date;
  updated_at: Date;
}

/** Creates a bucket full, or changes its rate and burst (keeping at most `burst` tokens). */
export async function upsertRateLimit(
  db: Queryable,
  schema: string,
  key: string,
  rate: number,
  burst: number,
): Promise<void> {
  const t = qualify(schema, "rate_limits");
  await db.query(
    `INSERT INTO ${t} AS rl (key, tokens_per_second, burst_size, current_tokens, last_refilled_at, updated_at)
     VALUES ($1, $2::double precision, $3::integer, $3::double precision, now(), now())
     ON CONFLICT (key) DO UPDATE
       SET tokens_per_second = EXCLUDED.tokens_per_second, burst_size = EXCLUDED.burst_size,
           current_tokens = least(rl.current_tokens, EXCLUDED.burst_size), updated_at = now()`,
    [key, rate, burst],
  );
}

export async function selectRateLimits(db: Queryable, schema: string): Promise<RateLimitRow[]> {
  const result = await db.query<RateLimitRow>(
    `SELECT key, tokens_per_second, burst_size, last_refilled_at, updated_at,
            least(burst_size::double precision,
                  current_tokens + greatest(extract(epoch FROM (clock_timestamp() - last_refilled_at)), 0)
                                   * tokens_per_second) AS available
       FROM ${qualify(schema, "rate_limits")} ORDER BY key`,
  );
  return result.rows;
}

export async function deleteRateLimitRow(db: Queryable, schema: string, key: string): Promise<number> {
  const result = await db.query(`DELETE FROM ${qualify(schema, "rate_limits")} WHERE key = $1`, [key]);
  return result.rowCount ?? 0;
}

export interface QueueControlRow {
  queue_name: string;
  paused: boolean;
  paused_at: Date | null;
  reason: string | null;
  updated_at: Date;
}

export async function setQueuePaused(
  db: Queryable,
  schema: string,
  queue: string,
  paused: boolean,
  reason: string | null,
): Promise<QueueControlRow> {
  const result = await db.query<QueueControlRow>(
    `INSERT INTO ${qualify(schema, "queue_controls")} AS qc (queue_name, paused, paused_at, reason)
     VALUES ($1, $2, CASE WHEN $2 THEN now() END, $3)
     ON CONFLICT (queue_name) DO UPDATE
       SET paused = EXCLUDED.paused,
           paused_at = CASE WHEN EXCLUDED.paused THEN coalesce(CASE WHEN qc.paused THEN qc.paused_at END, now()) END,
           reason = EXCLUDED.reason, updated_at = now()
     RETURNING queue_name, paused, paused_at, reason, updated_at`,
    [queue, paused, reason],
  );
  return result.rows[0]!;
}

export async function selectQueueControls(db: Queryable, schema: string): Promise<QueueControlRow[]> {
  const result = await db.query<QueueControlRow>(
    `SELECT queue_name, paused, paused_at, reason, updated_at FROM ${qualify(schema, "queue_controls")} ORDER BY queue_name`,
  );
  return result.rows;
}
