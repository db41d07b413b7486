/**
 * pg_cron for operators: install (or update) one job per enabled schedule and remove stale ones,
 * remove every job with a prefix, or only plan. pg_cron being absent can be an answer instead of
 * an error (`ifSupported`), for deploy scripts that run on databases with and without it.
 */
import type pg from "pg";
import {
  applyPgCronPlan,
  listPgCronJobs,
  PgCronMissingError,
  type PgCronPlan,
  planPgCron,
  removePgCronJobs,
} from "../scheduler/pg-cron.js";

export { DEFAULT_JOB_PREFIX } from "../scheduler/pg-cron.js";

export type PgCronAction = "install" | "remove" | "dry-run";

export type PgCronOutcome =
  | ({ action: "install" | "dry-run" } & PgCronPlan)
  | { action: "remove"; removed: string[]; dryRun?: boolean }
  /** pg_cron is not installed and `ifSupported` was set: nothing was done. */
  | { action: "none"; supported: false; reason: string };

export interface PgCronOptions {
  action: PgCronAction;
  /** Job-name prefix; it keeps other pg_cron jobs out of reach. */
  prefix: string;
  /** Answer { action: "none" } instead of throwing when pg_cron is missing (in every action). */
  ifSupported?: boolean;
  /**
   * Change nothing: "install" answers as "dry-run" (the plan), "remove" lists the jobs it would
   * remove with `dryRun: true`.
   */
  dryRun?: boolean;
}

export async function managePgCron(
  pool: pg.Pool,
  schema: string,
  options: PgCronOptions,
): Promise<PgCronOutcome> {
  try {
    if (options.action === "remove") {
      if (options.dryRun) {
        const jobs = await listPgCronJobs(pool, options.prefix);
        return { action: "remove", removed: jobs.map((j) => j.jobname), dryRun: true };
      }
      return { action: "remove", removed: await removePgCronJobs(pool, schema, options.prefix) };
    }
    const plan = await planPgCron(pool, schema, options.prefix);
    const apply = options.action === "install" && options.dryRun !== true;
    if (apply) await applyPgCronPlan(pool, schema, plan);
    return { action: apply ? "install" : "dry-run", ...plan };
  } catch (error) {
    if (options.ifSupported && error instanceof PgCronMissingError) {
      return { action: "none", supported: false, reason: error.message };
    }
    throw error;
  }
}
