/** Waiting in tests: on a condition, never for a fixed time before asserting. No src/ imports. */
import type pg from "pg";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value (for conditions with no event to wait on). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Waits until PostgreSQL's clock has passed the run's expires_at (for runs enqueued to expire at once). */
export async function pastExpiry(pool: pg.Pool, id: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await pool.query<{ past: boolean }>(
      "SELECT expires_at < now() AS past FROM reproq.task_runs WHERE result_id = $1",
      [id],
    );
    return rows[0]?.past;
  });
}
