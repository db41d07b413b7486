/**
 * The worker registry for operators: listing workers (for stats and the dashboard) and
 * pruning rows of workers that stopped without unregistering (killed, crashed, lost host).
 * A live worker refreshes its row on every heartbeat, so age is what tells them apart.
 */
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { InvalidInputError } from "../errors.js";
import { deleteStaleWorkers } from "../sql/maintenance.js";
import { selectWorkers } from "../sql/workers.js";

export interface WorkerInfo {
  workerId: string;
  hostname: string;
  pid: number | null;
  version: string;
  queues: string[];
  concurrency: number;
  metadata: Record<string, unknown>;
  startedAt: Date;
  lastSeenAt: Date;
  /** Milliseconds since the worker was last seen, by the database clock. */
  idleMs: number;
  /** Runs this worker currently holds a lease on. */
  running: number;
}

/** Every registered worker, most recently seen first. */
export async function listWorkers(db: Queryable, schema: string): Promise<WorkerInfo[]> {
  try {
    const rows = await selectWorkers(db, schema);
    return rows.map((row) => ({
      workerId: row.worker_id,
      hostname: row.hostname,
      pid: row.pid,
      version: row.version,
      queues: row.queues,
      concurrency: row.concurrency,
      metadata: row.metadata_json,
      startedAt: row.started_at,
      lastSeenAt: row.last_seen_at,
      idleMs: Math.max(0, Math.round(row.idle_ms)),
      running: row.running,
    }));
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}

export interface PruneWorkersOutcome {
  olderThanMs: number;
  /** Ids of the deleted worker rows, sorted. */
  removed: string[];
}

/** Deletes worker rows not seen for `olderThanMs`. Runs they leased are left to the lease reaper. */
export async function pruneStaleWorkers(
  db: Queryable,
  schema: string,
  olderThanMs: number,
): Promise<PruneWorkersOutcome> {
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new InvalidInputError(`olderThan: ${olderThanMs} is not valid; give a number of milliseconds >= 0`);
  }
  try {
    return { olderThanMs, removed: (await deleteStaleWorkers(db, schema, olderThanMs)).sort() };
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}
