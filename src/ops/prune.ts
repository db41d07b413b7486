/**
 * Retention of finished runs on demand: deletes runs with the given final statuses that
 * finished longer ago than a cutoff, in bounded batches so no statement holds many locks.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { InvalidInputError } from "../errors.js";
import { deleteFinished } from "../maintenance/passes.js";
import { countFinishedRuns } from "../sql/triage.js";
import { FINAL_STATUSES, type TaskStatus } from "../status.js";

export interface PruneInput {
  /** Final statuses only: SUCCESSFUL, FAILED, CANCELLED, EXPIRED. */
  statuses: readonly string[];
  /** Delete runs that finished more than this many milliseconds ago. */
  olderThanMs: number;
  /** Only count. */
  dryRun?: boolean;
  /** Rows per DELETE statement; default 1000. */
  batchSize?: number;
}

export interface PruneOutcome {
  statuses: TaskStatus[];
  olderThanMs: number;
  dryRun: boolean;
  /** Deleted, or with dryRun, that would be deleted. */
  count: number;
}

const DEFAULT_BATCH = 1000;

/** Upper-cased, de-duplicated final statuses; InvalidInputError names any other. */
export function validatePruneStatuses(statuses: readonly string[]): TaskStatus[] {
  const out: TaskStatus[] = [];
  for (const raw of statuses) {
    const status = raw.trim().toUpperCase();
    if (!(FINAL_STATUSES as readonly string[]).includes(status)) {
      throw new InvalidInputError(
        `status "${raw.trim()}" cannot be pruned; only finished statuses can: ${FINAL_STATUSES.join(", ")}`,
      );
    }
    if (!out.includes(status as TaskStatus)) out.push(status as TaskStatus);
  }
  if (out.length === 0)
    throw new InvalidInputError(`give at least one status of ${FINAL_STATUSES.join(", ")}`);
  return out;
}

export async function pruneRuns(db: Queryable, schema: string, input: PruneInput): Promise<PruneOutcome> {
  const statuses = validatePruneStatuses(input.statuses);
  const { olderThanMs } = input;
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new InvalidInputError(`olderThan: ${olderThanMs} is not valid; give a number of milliseconds >= 0`);
  }
  const batch = input.batchSize ?? DEFAULT_BATCH;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new InvalidInputError(`batchSize must be a whole number >= 1, got ${batch}`);
  }
  const dryRun = input.dryRun === true;
  try {
    if (dryRun) {
      return {
        statuses,
        olderThanMs,
        dryRun,
        count: await countFinishedRuns(db, schema, statuses, olderThanMs),
      };
    }
    const count = await deleteFinished(db, schema, statuses, olderThanMs, { batch });
    return { statuses, olderThanMs, dryRun, count };
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}
