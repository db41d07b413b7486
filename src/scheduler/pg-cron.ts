/**
 * pg_cron mode: each enabled schedule becomes a pg_cron job that calls
 * `<schema>.enqueue_schedule(name)`. pg_cron 1.4 reads cron in UTC at minute granularity, so
 * schedules in another timezone, with seconds, or with syntax only croner understands are refused.
 */

import type pg from "pg";
import { mapDatabaseError } from "../db/pool.js";
import { withTransaction } from "../db/transaction.js";
import { ConfigError, InvalidInputError } from "../errors.js";
import {
  type CronJobRow,
  enqueueScheduleCall,
  pgCronVersion,
  type ScheduleRow,
  scheduleCronJob,
  selectCronJobs,
  selectSchedules,
  unscheduleCronJob,
} from "../sql/schedules.js";
import { parseCron } from "./cron.js";

export const DEFAULT_JOB_PREFIX = "reproq:";

export interface PlannedJob {
  jobName: string;
  schedule: string;
  cron: string;
  command: string;
}

export interface PgCronPlan {
  version: string;
  install: PlannedJob[];
  /** Jobs with the prefix that no enabled schedule needs any more. */
  remove: string[];
}

/** A missing pg_cron extension (for --if-supported). */
export class PgCronMissingError extends ConfigError {}

const UTC = new Set(["UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"]);

/** The cron expression pg_cron gets, or an error saying why this schedule cannot run there. */
export function pgCronExpression(row: Pick<ScheduleRow, "name" | "cron_expr" | "timezone">): string {
  const where = `schedule "${row.name}"`;
  const cron = parseCron(row.cron_expr, row.timezone, where);
  if (!UTC.has(cron.timezone)) {
    throw new InvalidInputError(
      `${where} uses timezone ${cron.timezone}; pg_cron schedules in UTC only, so use timezone "UTC" (and shift the hours) or schedule it with reproq beat`,
    );
  }
  if (cron.hasSeconds) {
    throw new InvalidInputError(
      `${where} has a seconds field (${cron.expression}); pg_cron runs at minute granularity, so use 5 fields or reproq beat`,
    );
  }
  if (!/^[0-9*,/\- ]+$/.test(cron.expression) || cron.expression.split(" ").length !== 5) {
    throw new InvalidInputError(
      `${where}: ${JSON.stringify(cron.expression)} uses syntax pg_cron does not support; use digits, * , - and / in 5 fields`,
    );
  }
  return cron.expression;
}

export function jobName(prefix: string, schedule: string): string {
  return `${prefix}${schedule}`;
}

async function requirePgCron(db: pg.ClientBase | pg.Pool): Promise<string> {
  const version = await pgCronVersion(db);
  if (version === null) {
    throw new PgCronMissingError(
      "pg_cron is not installed in this database: add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart PostgreSQL and run CREATE EXTENSION pg_cron",
    );
  }
  return version;
}

/** What --install would do; throws before any change if a schedule cannot run under pg_cron. */
export async function planPgCron(pool: pg.Pool, schema: string, prefix: string): Promise<PgCronPlan> {
  try {
    const version = await requirePgCron(pool);
    const rows = (await selectSchedules(pool, schema)).filter((r) => r.enabled);
    const problems: string[] = [];
    const install: PlannedJob[] = [];
    for (const row of rows) {
      try {
        install.push({
          jobName: jobName(prefix, row.name),
          schedule: row.name,
          cron: pgCronExpression(row),
          command: enqueueScheduleCall(schema, row.name),
        });
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (problems.length > 0) throw new InvalidInputError(problems.join("; "));
    const wanted = new Set(install.map((j) => j.jobName));
    const remove = (await selectCronJobs(pool, prefix)).map((j) => j.jobname).filter((n) => !wanted.has(n));
    return { version, install, remove };
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

/** Applies a plan in one transaction: schedules (or updates) every job and removes stale ones. */
export async function applyPgCronPlan(pool: pg.Pool, schema: string, plan: PgCronPlan): Promise<void> {
  await inTransaction(pool, schema, async (client) => {
    for (const name of plan.remove) await unscheduleCronJob(client, name);
    for (const job of plan.install) await scheduleCronJob(client, job.jobName, job.cron, job.command);
  });
}

/** Removes every job with the prefix; returns their names. */
export async function removePgCronJobs(pool: pg.Pool, schema: string, prefix: string): Promise<string[]> {
  return inTransaction(pool, schema, async (client) => {
    await requirePgCron(client);
    const jobs = await selectCronJobs(client, prefix);
    for (const job of jobs) await unscheduleCronJob(client, job.jobname);
    return jobs.map((j) => j.jobname);
  });
}

export async function listPgCronJobs(pool: pg.Pool, prefix: string): Promise<CronJobRow[]> {
  await requirePgCron(pool);
  return selectCronJobs(pool, prefix);
}

async function inTransaction<T>(
  pool: pg.Pool,
  schema: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  try {
    return await withTransaction(pool, fn);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}
