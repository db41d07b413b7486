/**
 * The manager API's stats document (`GET stats/` of `reproq serve` and createManagerHandler):
 * the JSON shape the dashboard and the TUI already read from reproq-django's `/stats/`, built
 * from getStats, the schedule views, the queue controls and a top-failing count. One database
 * ("default") for now; `databases` keeps the per-database list so more can be added.
 */
import type { ReproqConfig } from "../config/schema.js";
import { guarded, type Queryable } from "../db/pool.js";
import { pgCronAvailable, selectTopFailing } from "../sql/stats.js";
import { TASK_STATUSES } from "../status.js";
import { listQueueControlsIn } from "./flow.js";
import { listScheduleViews } from "./schedules.js";
import { getStats, type StatusCounts } from "./stats.js";

/** A worker seen within this long counts as alive in worker_health (the seed's two minutes). */
export const ALIVE_WITHIN_MS = 120_000;
const TOP_FAILING = 5;
const DATABASE = "default";

/** Status → count, only statuses that have runs. */
export type PresentCounts = Partial<Record<keyof StatusCounts, number>>;

export interface ManagerWorker {
  worker_id: string;
  hostname: string;
  concurrency: number;
  queues: string[];
  last_seen_at: Date;
  version: string;
}

export interface ManagerPeriodic {
  name: string;
  cron_expr: string;
  enabled: boolean;
  next_run_at: Date | null;
  queue_name: string;
}

export interface ManagerQueueControl {
  queue_name: string;
  paused: boolean;
  paused_at: Date | null;
  reason: string | null;
  updated_at: Date;
  database: string;
}

export interface SchedulerStatus {
  /** Who enqueues due schedules, by configuration: beat, cron (reproq schedule from crontab), pg_cron, or nobody. */
  mode: "beat" | "cron" | "pg_cron" | "disabled";
  low_memory: boolean;
  beat_enabled: boolean;
  beat_configured: boolean;
  pg_cron_available: boolean;
  /** Only when mode is "disabled". */
  warning?: string;
}

export interface DatabaseStats {
  alias: string;
  tasks: PresentCounts;
  queues: Record<string, PresentCounts>;
  workers: ManagerWorker[];
  periodic: ManagerPeriodic[];
}

export interface ManagerStats {
  tasks: PresentCounts;
  queues: Record<string, PresentCounts>;
  workers: Array<ManagerWorker & { database: string }>;
  periodic: Array<ManagerPeriodic & { database: string }>;
  queue_controls: ManagerQueueControl[];
  worker_health: { alive: number; dead: number };
  scheduler: SchedulerStatus;
  top_failing: Array<{ task_path: string; count: number }>;
  databases: DatabaseStats[];
}

export type ManagerStatsConfig = Pick<ReproqConfig, "heartbeatInterval" | "lowMemoryMode" | "schedulerMode">;

function present(counts: StatusCounts): PresentCounts {
  const out: PresentCounts = {};
  for (const status of TASK_STATUSES) if (counts[status] > 0) out[status] = counts[status];
  return out;
}

/**
 * The seed's scheduler rules, as far as they apply here: beat is configured unless schedulerMode
 * names another scheduler; lowMemoryMode is reported but does not stop beat in Reproq. Under
 * pg_cron the mode is "disabled" (with a warning) when the server cannot provide the extension.
 */
export function schedulerStatus(config: ManagerStatsConfig, pgCron: boolean): SchedulerStatus {
  const configured = (config.schedulerMode ?? "beat") === "beat";
  const base = {
    low_memory: config.lowMemoryMode,
    beat_enabled: configured,
    beat_configured: configured,
    pg_cron_available: pgCron,
  };
  if (config.schedulerMode === "cron") return { mode: "cron", ...base };
  if (configured) return { mode: "beat", ...base };
  if (pgCron) return { mode: "pg_cron", ...base };
  return {
    mode: "disabled",
    ...base,
    warning:
      "Periodic schedules are disabled: schedulerMode is pg_cron but this server has no pg_cron extension.",
  };
}

/** The stats document of one database. Sequential statements, so one connection is enough. */
export async function getManagerStats(
  db: Queryable,
  schema: string,
  config: ManagerStatsConfig,
): Promise<ManagerStats> {
  const stats = await getStats(db, schema, {
    heartbeatIntervalMs: config.heartbeatInterval,
    schedulerMode: config.schedulerMode,
  });
  const controls = await listQueueControlsIn(db, schema);
  const schedules = await listScheduleViews(db, schema, { mode: config.schedulerMode });
  const topFailing = await guarded(schema, () => selectTopFailing(db, schema, TOP_FAILING));
  const pgCron = await pgCronAvailable(db).catch(() => false);

  const queues: Record<string, PresentCounts> = {};
  for (const queue of stats.queues) {
    const counts = present(queue.counts);
    if (Object.keys(counts).length > 0) queues[queue.queue] = counts;
  }
  const workers: ManagerWorker[] = stats.workers.map((w) => ({
    worker_id: w.workerId,
    hostname: w.hostname,
    concurrency: w.concurrency,
    queues: w.queues,
    last_seen_at: w.lastSeenAt,
    version: w.version,
  }));
  const periodic: ManagerPeriodic[] = schedules.schedules.map((s) => ({
    name: s.name,
    cron_expr: s.cron,
    enabled: s.enabled,
    next_run_at: s.nextRunAt,
    queue_name: s.queue,
  }));
  const alive = stats.workers.filter((w) => w.idleMs <= ALIVE_WITHIN_MS).length;
  const tasks = present(stats.counts);

  return {
    tasks,
    queues,
    workers: workers.map((w) => ({ ...w, database: DATABASE })),
    periodic: periodic.map((p) => ({ ...p, database: DATABASE })),
    queue_controls: controls.map((c) => ({
      queue_name: c.queue,
      paused: c.paused,
      paused_at: c.pausedAt,
      reason: c.reason,
      updated_at: c.updatedAt,
      database: DATABASE,
    })),
    worker_health: { alive, dead: stats.workers.length - alive },
    scheduler: schedulerStatus(config, pgCron),
    top_failing: topFailing.map((row) => ({ task_path: row.task_path, count: row.count })),
    databases: [{ alias: DATABASE, tasks, queues, workers, periodic }],
  };
}
