/**
 * A snapshot of the system for operators: run counts by status (overall and per queue),
 * how long the oldest due run of each queue has waited, paused queues, workers (stale ones
 * flagged), rate limits, schedules and the scheduler mode. The CLI's `stats`, the public
 * stats() and a later HTTP endpoint all return this one shape.
 */
import type { ReproqConfig } from "../config/schema.js";
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { getBackend } from "../runtime.js";
import { countExpiredLeases, countSchedules, selectQueueStatusCounts } from "../sql/stats.js";
import { TASK_STATUSES, type TaskStatus } from "../status.js";
import { listQueueControlsIn, listRateLimitsIn, type RateLimit } from "./flow.js";
import { listWorkers, type WorkerInfo } from "./workers.js";

export type StatusCounts = Record<TaskStatus, number>;

export interface QueueStats {
  queue: string;
  counts: StatusCounts;
  /** How long the oldest READY run that is due has waited, in ms; null when none is due. */
  oldestReadyAgeMs: number | null;
  paused: boolean;
}

export interface WorkerStats extends WorkerInfo {
  /** Not seen for more than STALE_HEARTBEATS heartbeat intervals: probably gone. */
  stale: boolean;
}

export type SchedulerMode = NonNullable<ReproqConfig["schedulerMode"]>;

export interface Stats {
  counts: StatusCounts;
  queues: QueueStats[];
  workers: WorkerStats[];
  rateLimits: RateLimit[];
  schedules: { count: number; enabled: number };
  schedulerMode: SchedulerMode;
  /** RUNNING runs whose lease expired (their worker stopped); the reaper or `reproq reclaim` re-queues them. */
  expiredLeases: number;
}

export interface StatsOptions {
  /** The deployment's heartbeatInterval (default 10 s); workers silent for 3 of them are stale. */
  heartbeatIntervalMs?: number;
  /** The schedulerMode setting; unset means beat. */
  schedulerMode?: SchedulerMode;
}

/** A worker may miss a heartbeat or two under load; three in a row means it is most likely gone. */
export const STALE_HEARTBEATS = 3;
const DEFAULT_HEARTBEAT_MS = 10_000;

function zeroCounts(): StatusCounts {
  return Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as StatusCounts;
}

/** The snapshot from a given database. */
export async function getStats(db: Queryable, schema: string, options: StatsOptions = {}): Promise<Stats> {
  const staleAfterMs = STALE_HEARTBEATS * (options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS);
  let rows: Awaited<ReturnType<typeof selectQueueStatusCounts>>;
  let expiredLeases: number;
  let schedules: { count: number; enabled: number };
  try {
    // Sequential on purpose: the CLI gives this one connection.
    rows = await selectQueueStatusCounts(db, schema);
    expiredLeases = await countExpiredLeases(db, schema);
    schedules = await countSchedules(db, schema);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  const controls = await listQueueControlsIn(db, schema);
  const workers = await listWorkers(db, schema);
  const rateLimits = await listRateLimitsIn(db, schema);

  const counts = zeroCounts();
  const queues = new Map<string, QueueStats>();
  const queueOf = (name: string): QueueStats => {
    let entry = queues.get(name);
    if (!entry) {
      entry = { queue: name, counts: zeroCounts(), oldestReadyAgeMs: null, paused: false };
      queues.set(name, entry);
    }
    return entry;
  };
  for (const row of rows) {
    const status = row.status as TaskStatus;
    counts[status] += row.count;
    const entry = queueOf(row.queue_name);
    entry.counts[status] += row.count;
    if (row.oldest_ready_ms !== null) entry.oldestReadyAgeMs = Math.max(0, Math.round(row.oldest_ready_ms));
  }
  // A paused queue is listed even when it holds no runs, so a forgotten pause stays visible.
  for (const control of controls) {
    if (control.paused) queueOf(control.queue).paused = true;
  }

  return {
    counts,
    queues: [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0)),
    workers: workers.map((worker) => ({ ...worker, stale: worker.idleMs > staleAfterMs })),
    rateLimits,
    schedules,
    schedulerMode: options.schedulerMode ?? "beat",
    expiredLeases,
  };
}

/** The snapshot of the default backend's database, read with its settings. */
export async function stats(): Promise<Stats> {
  const backend = getBackend();
  const [pool, schema, config] = await Promise.all([backend.pool(), backend.schema(), backend.config()]);
  return getStats(pool, schema, {
    heartbeatIntervalMs: config.heartbeatInterval,
    schedulerMode: config.schedulerMode,
  });
}
