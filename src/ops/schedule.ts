/**
 * The scheduler for operators: getting a process ready to schedule (task modules imported, so
 * recurring() definitions and codecs are known) and one tick on demand (crontab, `reproq schedule`).
 * Exactly one scheduler is active per database and schema; a tick that finds another one leading
 * does nothing and says so.
 */
import type pg from "pg";
import type { ReproqConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { resolveProvenance } from "../provenance.js";
import { type BaseProvenance, runOnce, type ScheduleTick } from "../scheduler/beat.js";
import { importTaskModules } from "../worker/discovery.js";

export type { ScheduleTick } from "../scheduler/beat.js";

export interface ScheduleTickReport {
  schema: string;
  /** False when another scheduler holds the leadership: it enqueues the due schedules, this did nothing. */
  leader: boolean;
  /** When the tick ran (only when leader). */
  at?: Date;
  schedules: ScheduleTick[];
}

/**
 * Refuses to schedule under schedulerMode "pg_cron" (pg_cron enqueues then, and a beat would
 * enqueue the same ticks again), imports the task modules like the worker does, and returns the
 * provenance every scheduled run records.
 */
export async function prepareScheduler(config: ReproqConfig, cwd: string): Promise<BaseProvenance> {
  if (config.schedulerMode === "pg_cron") {
    throw new ConfigError(
      'schedulerMode is "pg_cron": pg_cron enqueues the schedules, and a beat would enqueue the same ticks again; unset REPROQ_SCHEDULER_MODE or use reproq pg-cron',
    );
  }
  if (config.tasks?.length) await importTaskModules(config.tasks, cwd);
  return { ...resolveProvenance({ codeRef: config.codeRef, lockfileHash: config.lockfileHash, cwd }) };
}

/** One tick unless another scheduler is active. A schedule that failed carries its `error`. */
export async function tickSchedulesOnce(
  pool: pg.Pool,
  schema: string,
  provenance: BaseProvenance,
): Promise<ScheduleTickReport> {
  const { leader, result } = await runOnce(pool, schema, provenance);
  if (!leader || !result) return { schema, leader: false, schedules: [] };
  return { schema, leader: true, at: result.at, schedules: result.schedules };
}
