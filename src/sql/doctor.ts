/** Read-only queries behind `reproq doctor`: server identity, waiting work, the scheduler lock, pg_cron. */

import { qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export async function selectServerVersion(db: Queryable): Promise<string> {
  const result = await db.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  return result.rows[0]?.v ?? "unknown";
}

export interface ReadyQueueRow {
  queue_name: string;
  ready: number;
}

/** READY runs per queue (the claim index covers this). */
export async function selectReadyQueues(db: Queryable, schema: string): Promise<ReadyQueueRow[]> {
  const result = await db.query<ReadyQueueRow>(
    `SELECT queue_name, count(*)::int AS ready FROM ${qualify(schema, "task_runs")}
      WHERE status = 'READY' GROUP BY queue_name ORDER BY queue_name`,
  );
  return result.rows;
}

/**
 * Whether some session holds the advisory lock `key` in this database. A bigint lock shows in
 * pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
 */
export async function advisoryLockHeld(db: Queryable, key: string): Promise<boolean> {
  const k = BigInt.asUintN(64, BigInt(key));
  const result = await db.query<{ held: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = $1::bigint::oid AND objid = $2::bigint::oid) AS held`,
    [(k >> 32n).toString(), (k & 0xffffffffn).toString()],
  );
  return result.rows[0]?.held ?? false;
}

export async function countEnabledSchedules(db: Queryable, schema: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${qualify(schema, "periodic_tasks")} WHERE enabled`,
  );
  return result.rows[0]?.n ?? 0;
}
