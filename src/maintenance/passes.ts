/**
 * Maintenance as bounded, batched loops: reclaim expired leases, expire runs not started in time,
 * delete finished runs past retention. The worker's periodic pass, `reproq reclaim` and
 * `reproq prune` all run these same loops, so a statement's batch size and its stopping rule live
 * in one place. Small batches keep each statement's row locks short.
 */

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import { advisoryKey } from "../db/names.js";
import type { Queryable } from "../db/pool.js";
import {
  type AgeField,
  advisoryUnlock,
  deleteFinishedRuns,
  type ExpiredRun,
  expireRuns,
  type ReapedRun,
  reapExpiredLeases,
  tryAdvisoryLock,
} from "../sql/maintenance.js";
import type { TaskStatus } from "../status.js";

export interface BatchLimits {
  /** Rows per statement. */
  batch?: number;
  /** Rows in all, at most (default: no limit). */
  limit?: number;
  /** Statements at most (default: no limit); the periodic pass bounds its time this way. */
  maxBatches?: number;
  /**
   * After each full batch, pause this many times as long as the batch took before the next
   * (default 0): at 1 a long deletion keeps a database connection busy half the time, so the
   * workers' claims and settles keep their share of the server.
   */
  pauseRatio?: number;
}

/**
 * Runs `step(want)` until it returns fewer rows than asked (nothing left, or the rest is locked by
 * someone working on it right now), the limit is reached, or maxBatches statements have run.
 */
export async function repeatBatches(
  step: (want: number) => Promise<number>,
  {
    batch = 500,
    limit = Number.POSITIVE_INFINITY,
    maxBatches = Number.POSITIVE_INFINITY,
    pauseRatio = 0,
  }: BatchLimits,
): Promise<number> {
  let total = 0;
  for (let round = 0; round < maxBatches && total < limit; round++) {
    const want = Math.min(batch, limit - total);
    const started = performance.now();
    const done = await step(want);
    total += done;
    if (done < want) break;
    if (pauseRatio > 0 && round + 1 < maxBatches && total < limit) {
      await sleep((performance.now() - started) * pauseRatio);
    }
  }
  return total;
}

/** RUNNING runs whose lease expired go back to READY (or end FAILED / CANCELLED). */
export async function reclaimLeases(
  db: Queryable,
  schema: string,
  limits: BatchLimits = {},
): Promise<ReapedRun[]> {
  const reclaimed: ReapedRun[] = [];
  await repeatBatches(async (want) => {
    const rows = await reapExpiredLeases(db, schema, want);
    reclaimed.push(...rows);
    return rows.length;
  }, limits);
  return reclaimed;
}

/** READY and WAITING runs whose expiry passed end EXPIRED; returns them. */
export async function expireUnstarted(
  db: Queryable,
  schema: string,
  limits: BatchLimits = {},
): Promise<ExpiredRun[]> {
  const expired: ExpiredRun[] = [];
  await repeatBatches(async (want) => {
    const rows = await expireRuns(db, schema, want);
    expired.push(...rows);
    return rows.length;
  }, limits);
  return expired;
}

/**
 * Deletes runs with these statuses whose `field` (finished_at unless given) is more than
 * `olderThanMs` ago, one statement (its own transaction) per batch; returns how many.
 */
/** Retention deletes pause as long as each batch took (see BatchLimits.pauseRatio) unless told otherwise. */
export const RETENTION_PAUSE_RATIO = 1;

export function deleteFinished(
  db: Queryable,
  schema: string,
  statuses: readonly TaskStatus[] | readonly string[],
  olderThanMs: number,
  limits: BatchLimits = {},
  field: AgeField = "finished_at",
): Promise<number> {
  return repeatBatches((want) => deleteFinishedRuns(db, schema, [...statuses], olderThanMs, want, field), {
    batch: 1000,
    pauseRatio: RETENTION_PAUSE_RATIO,
    ...limits,
  });
}

export interface MaintenanceResult {
  reaped: number;
  expired: number;
  deleted: number;
  /** The runs whose expired leases were reclaimed, with the status each has now. */
  reapedRuns: ReapedRun[];
  /** The runs that expired unstarted. */
  expiredRuns: ExpiredRun[];
}

/** A periodic pass does at most this many statements per loop, so one pass never runs for long. */
const PASS_BATCHES = 20;

/** One maintenance pass: reap expired leases, expire unstarted runs, apply retention. */
export async function runMaintenance(
  db: Queryable,
  schema: string,
  config: Pick<ReproqConfig, "retainSuccessful" | "retainFailed">,
  log?: Logger,
): Promise<MaintenanceResult> {
  const bounded = { maxBatches: PASS_BATCHES };
  const reapedRuns = await reclaimLeases(db, schema, bounded);
  const expiredRuns = await expireUnstarted(db, schema, bounded);
  const reaped = reapedRuns.length;
  const expired = expiredRuns.length;
  const rules: Array<[TaskStatus[], number]> = [
    [["SUCCESSFUL"], config.retainSuccessful],
    [["FAILED", "CANCELLED", "EXPIRED"], config.retainFailed],
  ];
  let deleted = 0;
  for (const [statuses, age] of rules) {
    // No pauses here: the pass is bounded by PASS_BATCHES and holds the maintenance lock and a
    // pooled connection while it runs, which a pause would only prolong.
    if (age > 0) deleted += await deleteFinished(db, schema, statuses, age, { ...bounded, pauseRatio: 0 });
  }
  if (reaped + expired + deleted > 0) log?.info({ reaped, expired, deleted }, "maintenance pass");
  return { reaped, expired, deleted, reapedRuns, expiredRuns };
}

/**
 * The periodic pass of a worker: one worker at a time per schema runs it (an advisory lock on
 * one of the pool's connections), the others skip. Resolves to null when another worker held it.
 */
export async function runMaintenanceIfFree(
  pool: pg.Pool,
  schema: string,
  config: Pick<ReproqConfig, "retainSuccessful" | "retainFailed">,
  log?: Logger,
): Promise<MaintenanceResult | null> {
  const key = advisoryKey(schema, "maintenance");
  const client = await pool.connect();
  try {
    if (!(await tryAdvisoryLock(client, key))) return null;
    try {
      return await runMaintenance(client, schema, config, log);
    } finally {
      await advisoryUnlock(client, key);
    }
  } finally {
    client.release();
  }
}
