/** Starting workers in tests: quiet, fast polling, stopped after each test. */
import type pg from "pg";
import { afterEach } from "vitest";
import { Worker, type WorkerOptions } from "../../src/worker/worker.js";

const started: Worker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.stop({ timeout: 0 })));
});

export async function startWorker(
  config: WorkerOptions["config"] = {},
  options: Omit<WorkerOptions, "config"> = {},
): Promise<Worker> {
  const worker = await Worker.start({
    logger: false,
    ...options,
    config: {
      pollInterval: 500,
      heartbeatInterval: 500,
      leaseDuration: 5000,
      maintenanceInterval: 60_000,
      ...config,
    },
  });
  started.push(worker);
  return worker;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value (for conditions with no event to wait on). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
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
