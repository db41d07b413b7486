/**
 * Reclaiming expired leases by hand (`reproq reclaim`): the same statement the workers'
 * maintenance pass runs, so an operator can rescue runs of crashed workers without
 * waiting for a live worker to get to it, or see first what would be rescued.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { InvalidInputError } from "../errors.js";
import { reclaimLeases } from "../maintenance/passes.js";
import { listExpiredLeases, type ReapedRun } from "../sql/maintenance.js";

export interface ReclaimOptions {
  /** Only report what would be reclaimed. */
  dryRun?: boolean;
  /** Reclaim at most this many runs (default: all). */
  limit?: number;
}

export interface ReclaimedRun {
  id: string;
  taskName: string;
  /** The status the run got (or would get): READY to run again, FAILED when its attempts are spent, CANCELLED when cancel was requested. */
  status: string;
  /** The worker whose lease expired. */
  leasedBy: string | null;
}

/** RUNNING runs whose lease expired go back to READY (or end FAILED / CANCELLED); returns what was changed. */
export async function reclaimExpiredLeases(
  db: Queryable,
  schema: string,
  options: ReclaimOptions = {},
): Promise<ReclaimedRun[]> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit > 0))) {
    throw new InvalidInputError(`limit: ${limit} is not valid; give a positive integer`);
  }
  try {
    if (options.dryRun) {
      // A listing changes nothing, so it cannot page by repetition: one bounded query.
      const rows = await listExpiredLeases(db, schema, Math.min(limit, Number.MAX_SAFE_INTEGER));
      return rows.map(toReclaimed);
    }
    return (await reclaimLeases(db, schema, { limit })).map(toReclaimed);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

function toReclaimed(row: ReapedRun): ReclaimedRun {
  return { id: row.result_id, taskName: row.task_path, status: row.status, leasedBy: row.leased_by };
}
