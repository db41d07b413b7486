/**
 * Maintenance as bounded, batched loops: reclaim expired leases, expire runs not started in time,
 * delete finished runs past retention. The worker's periodic pass, `reproq reclaim` and
 * `reproq prune` all run these same loops, so a statement's batch size and its stopping rule live
 * in one place. Small batches keep each statement's row locks short.
 */
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import type { Queryable } from "../db/pool.js";
import { deleteFinishedRuns, expireRuns, type ReapedRun, reapExpiredLeases } from "../sql/maintenance.js";
import type { TaskStatus } from "../status.js";

export interface BatchLimits {
  /** Rows per statement. */
  batch?: number;
  /** Rows in all, at most (default: no limit). */
  limit?: number;
  /** Statements at most (default: no limit); the periodic pass bounds its time this way. */
  maxBatches?: number;
}

/**
 * Runs `step(want)` until it returns fewer rows than asked (nothing left, or the rest is locked by
 * someone working on it right now), the limit is reached, or maxBatches statements have run.
 */
export async function repeatBatches(
  step: (want: number) => Promise<number>,
  { batch = 500, limit = Number.POSITIVE_INFINITY, maxBatches = Number.POSITIVE_INFINITY }: BatchLimits,
): Promise<number> {
  let total = 0;
  for (let round = 0; round < maxBatches && total < limit; round++) {
    const want = Math.min(batch, limit - total);
    const done = await step(want);
    total += done;
    if (done < want) break;
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

/** READY runs whose expiry passed end EXPIRED; returns their ids. */
export async function expireUnstarted(
  db: Queryable,
  schema: string,
  limits: BatchLimits = {},
): Promise<string[]> {
  const expired: string[] = [];
  await repeatBatches(async (want) => {
    const ids = await expireRuns(db, schema, want);
    expired.push(...ids);
    return ids.length;
  }, limits);
  return expired;
}

/** Deletes runs with these statuses that finished more than `olderThanMs` ago; returns how many. */
export function deleteFinished(
  db: Queryable,
  schema: string,
  statuses: readonly TaskStatus[] | readonly string[],
  olderThanMs: number,
  limits: BatchLimits = {},
): Promise<number> {
  return repeatBatches((want) => deleteFinishedRuns(db, schema, [...statuses], olderThanMs, want), {
    batch: 1000,
    ...limits,
  });
}

export interface MaintenanceResult {
  reaped: number;
  expired: number;
  deleted: number;
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
  const reaped = (await reclaimLeases(db, schema, bounded)).length;
  const expired = (await expireUnstarted(db, schema, bounded)).length;
  const rules: Array<[TaskStatus[], number]> = [
    [["SUCCESSFUL"], config.retainSuccessful],
    [["FAILED", "CANCELLED", "EXPIRED"], config.retainFailed],
  ];
  let deleted = 0;
  for (const [statuses, age] of rules) {
    if (age > 0) deleted += await deleteFinished(db, schema, statuses, age, bounded);
  }
  if (reaped + expired + deleted > 0) log?.info({ reaped, expired, deleted }, "maintenance pass");
  return { reaped, expired, deleted };
}
