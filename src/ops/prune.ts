/**
 * Deleting runs on demand by status and age: retention of finished runs, and purging a backlog
 * (READY or WAITING runs, RUNNING ones only when forced). Deletes run in bounded batches, each
 * one statement and so one transaction, so no statement holds many locks; a dry run only counts.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { InvalidInputError } from "../errors.js";
import { deleteFinished } from "../maintenance/passes.js";
import { type AgeField, countFinishedRuns } from "../sql/maintenance.js";
import { FINAL_STATUSES, isFinalStatus, parseStatuses, type TaskStatus } from "../status.js";
import { wholeNumber } from "./input.js";

export type { AgeField } from "../sql/maintenance.js";

/** The columns a run's age can be measured by, as the seed names them. */
export const AGE_FIELDS: readonly AgeField[] = ["finished_at", "updated_at", "enqueued_at", "started_at"];

export interface PruneInput {
  /** Any status; RUNNING only with `force`. */
  statuses: readonly string[];
  /** Delete runs whose `field` is more than this many milliseconds ago. */
  olderThanMs: number;
  /** The age is measured by this column; default finished_at (which only finished runs have). */
  field?: AgeField;
  /** Delete at most this many runs in all (default: every match). */
  limit?: number;
  /** Allow RUNNING: their workers' results are then lost. */
  force?: boolean;
  /** Only count. */
  dryRun?: boolean;
  /** Rows per DELETE statement; default 1000. */
  batchSize?: number;
  /**
   * Pause between batches as long as each took (default true), so a large prune leaves the
   * workers their share of the database; false deletes at full speed.
   */
  throttle?: boolean;
}

export interface PruneOutcome {
  statuses: TaskStatus[];
  olderThanMs: number;
  field: AgeField;
  /** The most that was to be deleted; null for no limit. */
  limit: number | null;
  dryRun: boolean;
  /** Deleted, or with dryRun, that would be deleted. */
  count: number;
}

const DEFAULT_BATCH = 1000;

/**
 * Upper-cased, de-duplicated statuses; InvalidInputError names an unknown one, and RUNNING
 * unless `force` (a worker is executing those runs right now).
 */
export function validatePruneStatuses(
  statuses: readonly string[],
  options: { force?: boolean } = {},
): TaskStatus[] {
  const out = parseStatuses(statuses);
  if (out.includes("RUNNING") && options.force !== true) {
    throw new InvalidInputError(
      'status "RUNNING" names runs a worker is executing now; add --force (force: true) to delete them anyway',
    );
  }
  if (out.length === 0)
    throw new InvalidInputError(`give at least one status, e.g. ${FINAL_STATUSES.join(", ")}`);
  return out;
}

/** The age column, checked against the statuses: finished_at only exists for finished runs. */
export function validateAgeField(field: string | undefined, statuses: readonly TaskStatus[]): AgeField {
  const chosen = (field ?? "finished_at").trim().toLowerCase();
  if (!(AGE_FIELDS as readonly string[]).includes(chosen)) {
    throw new InvalidInputError(`field "${field}" is not valid; give one of ${AGE_FIELDS.join(", ")}`);
  }
  const unfinished = statuses.filter((s) => !isFinalStatus(s));
  if (chosen === "finished_at" && unfinished.length > 0) {
    throw new InvalidInputError(
      `${unfinished.join(", ")} runs have not finished, so finished_at cannot age them; measure by enqueued_at or updated_at instead`,
    );
  }
  return chosen as AgeField;
}

export async function pruneRuns(db: Queryable, schema: string, input: PruneInput): Promise<PruneOutcome> {
  const statuses = validatePruneStatuses(input.statuses, { force: input.force });
  const field = validateAgeField(input.field, statuses);
  const { olderThanMs } = input;
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new InvalidInputError(`olderThan: ${olderThanMs} is not valid; give a number of milliseconds >= 0`);
  }
  const batch = wholeNumber(input.batchSize ?? DEFAULT_BATCH, "batchSize");
  const limit = input.limit === undefined ? null : wholeNumber(input.limit, "limit");
  const dryRun = input.dryRun === true;
  const outcome = { statuses, olderThanMs, field, limit, dryRun };
  try {
    if (dryRun) {
      const all = await countFinishedRuns(db, schema, statuses, olderThanMs, field);
      return { ...outcome, count: limit === null ? all : Math.min(all, limit) };
    }
    const count = await deleteFinished(
      db,
      schema,
      statuses,
      olderThanMs,
      { batch, ...(limit === null ? {} : { limit }), ...(input.throttle === false ? { pauseRatio: 0 } : {}) },
      field,
    );
    return { ...outcome, count };
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}
