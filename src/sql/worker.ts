/**
 * The worker's protocol with task_runs: claim, heartbeat, settle (success, retry, fail,
 * cancel, snooze, release) and the worker registry. Every write to a claimed run is fenced
 * by its lease_token, so a worker whose lease expired can never overwrite a re-claimed run.
 */

import { preparedStatement, qualify } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export interface ClaimedRunRow {
  result_id: string;
  task_path: string;
  queue_name: string;
  priority: number;
  /** run_after in epoch milliseconds (with microseconds): the claim order's second key. */
  run_after_ms: number;
  args: unknown;
  attempts: number;
  max_attempts: number;
  timeout_seconds: number;
  lease_token: string;
  /** Null when the run has no metadata. */
  metadata_json: Record<string, unknown> | null;
  cancel_requested: boolean;
  /** The run holds a lock key or a limited concurrency key (settling it locks key counters). */
  keyed: boolean;
}

export interface QueueFilter {
  /** Exact queue names. */
  names: string[];
  /** LIKE patterns (translated from globs). */
  patterns: string[];
}

/**
 * Claims up to `limit` runs in one call of the claim_runs() function (migrations 2 and 5):
 * READY, due, not expired, in a served and unpaused queue, with lock keys, concurrency limits
 * and rate limits enforced. Returns them in claim order: priority, then run_after, then id.
 * `retryAfterMs` is set when a rate limit held runs back: the next token arrives then.
 * `contended` is set when runs were left out because another transaction held their key counters
 * (claims never wait for those, migration 12): claim again at once.
 */
export async function claimRuns(
  db: Queryable,
  schema: string,
  options: { workerId: string; limit: number; leaseMs: number; queues: QueueFilter },
): Promise<{ runs: ClaimedRunRow[]; retryAfterMs: number | null; contended: boolean }> {
  const result = await db.query<ClaimedRunRow & { retry_after_ms: string | null }>({
    // Named: parsed once per connection. The claim is on every run's enqueue-to-start path.
    ...preparedStatement(
      db,
      "claim",
      schema,
      // run_after as a number, not a timestamptz: it is only sorted on, and a thousand Date
      // objects per batch cost more to parse and to keep than the claim's other columns.
      (
        s,
      ) => `SELECT result_id, task_path, queue_name, priority, date_part('epoch', run_after) * 1000 AS run_after_ms,
                     args, attempts, max_attempts, timeout_seconds, lease_token, metadata_json, cancel_requested,
                     keyed, retry_after_ms
                FROM ${qualify(s, "claim_runs")}($1, $2, $3, $4::text[], $5::text[])`,
    ),
    values: [options.workerId, options.limit, options.leaseMs, options.queues.names, options.queues.patterns],
  });
  const runs: ClaimedRunRow[] = [];
  let retryAfterMs: number | null = null;
  let contended = false;
  for (const row of result.rows) {
    if (row.result_id !== null) runs.push(row);
    else if (Number(row.retry_after_ms) === 0) contended = true;
    else retryAfterMs = Number(row.retry_after_ms);
  }
  // The function returns rows in storage order; sorting a batch here is cheaper than in SQL.
  if (runs.length > 1) runs.sort(claimOrder);
  return { runs, retryAfterMs, contended };
}

function claimOrder(a: ClaimedRunRow, b: ClaimedRunRow): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const at = a.run_after_ms - b.run_after_ms;
  if (at !== 0) return at;
  // Same microsecond: id order. bigint ids are decimal strings.
  if (a.result_id.length !== b.result_id.length) return a.result_id.length - b.result_id.length;
  return a.result_id < b.result_id ? -1 : a.result_id > b.result_id ? 1 : 0;
}

export interface Fence {
  resultId: string;
  leaseToken: string;
}

/**
 * Extends the leases of running runs; returns those still held, with their cancel flag. The ids
 * select the rows through the primary key; the status test is written so that it cannot match the
 * predicate of task_runs_lease_idx (RUNNING runs), which the planner otherwise walks whole when its
 * statistics were taken while nothing ran, as settle_runs() does (migration 5).
 */
export async function heartbeatRuns(
  db: Queryable,
  schema: string,
  fences: readonly Fence[],
  leaseMs: number,
): Promise<Array<{ result_id: string; cancel_requested: boolean }>> {
  if (fences.length === 0) return [];
  const result = await db.query<{ result_id: string; cancel_requested: boolean }>(
    `UPDATE ${qualify(schema, "task_runs")}
        SET leased_until = now() + $3 * interval '1 millisecond', updated_at = now()
      WHERE result_id = ANY($1::bigint[]) AND lease_token = ANY($2::uuid[]) AND coalesce(status, '') = 'RUNNING'
   RETURNING result_id, cancel_requested`,
    [fences.map((f) => f.resultId), fences.map((f) => f.leaseToken), leaseMs],
  );
  return result.rows;
}

/**
 * A WITH clause that locks, in key order, the concurrency counters of the given runs
 * (referenced as `locked_slots`, it runs before any row is updated). The counters change in
 * a trigger as runs leave RUNNING; taking their locks in the same order as claims do keeps
 * concurrent completions and claims from deadlocking.
 */
export function lockSlotsOf(schema: string, idsExpr: string): string {
  const t = qualify(schema, "task_runs");
  return `WITH locked_slots AS MATERIALIZED (
       SELECT cs.key FROM ${qualify(schema, "concurrency_slots")} cs
        WHERE cs.key IN (
          SELECT 'c:' || k.concurrency_key FROM ${t} k
           WHERE k.result_id = ANY(${idsExpr}) AND k.concurrency_key IS NOT NULL AND k.concurrency_limit > 0
          UNION
          SELECT 'l:' || k.lock_key FROM ${t} k WHERE k.result_id = ANY(${idsExpr}) AND k.lock_key IS NOT NULL)
        ORDER BY cs.key FOR UPDATE OF cs)`;
}

export type FailureOutcome =
  /** Back to READY after `delayMs`; the attempt counts. */
  | { kind: "retry"; delayMs: number }
  /** FAILED for good. */
  | { kind: "fail" }
  /** CANCELLED (cancel requested while running). */
  | { kind: "cancel" }
  /** Back to READY after `delayMs` without using an attempt (snooze). */
  | { kind: "snooze"; delayMs: number }
  /** Back to READY at once without using an attempt (shutdown released the run). */
  | { kind: "release" };

/** The outcome of one attempt, as the worker hands it to settleRuns(). */
export type SettleRecord = Fence & {
  /** The run holds a key (ClaimedRunRow.keyed). */
  keyed: boolean;
  /** New metadata JSON, or null to keep the stored value. */
  metadataJson: string | null;
  logsUri: string | null;
} & (
    | { outcome: { kind: "success" }; returnJson: string }
    | {
        outcome: FailureOutcome;
        /** Error object appended to errors_json, or null to append nothing. */
        errorJson: string | null;
        lastError: string | null;
      }
  );

const STATUS_OF: Record<SettleRecord["outcome"]["kind"], string> = {
  success: "SUCCESSFUL",
  fail: "FAILED",
  cancel: "CANCELLED",
  retry: "READY",
  snooze: "READY",
  release: "READY",
};

/**
 * Writes a batch of attempt outcomes in one statement (the settle_runs() function of
 * migration 5); returns the ids that were still held. Runs whose lease was lost are
 * skipped: their outcome is not written.
 */
export async function settleRuns(
  db: Queryable,
  schema: string,
  records: readonly SettleRecord[],
): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  const n = records.length;
  // Array literals are written here for the columns whose values need no quoting (digits, uuids,
  // status words): cheaper than the driver's per-element escaping, for a thousand runs a batch.
  let ids = "";
  let tokens = "";
  let statuses = "";
  let refunds = "";
  let delays = "";
  const returns = new Array<string | null>(n);
  // Usually all NULL: then they go as empty arrays, which unnest() pads with NULLs.
  let errors: Array<string | null> | null = null;
  let lastErrors: Array<string | null> | null = null;
  let metas: Array<string | null> | null = null;
  let logs: Array<string | null> | null = null;
  const put = (column: Array<string | null> | null, i: number, value: string | null) => {
    if (value === null) return column;
    const out = column ?? new Array<string | null>(n).fill(null);
    out[i] = value;
    return out;
  };
  let keyed = false;
  for (let i = 0; i < n; i++) {
    const record = records[i]!;
    const { outcome } = record;
    const sep = i === 0 ? "" : ",";
    ids += sep + record.resultId;
    tokens += sep + record.leaseToken;
    statuses += sep + STATUS_OF[outcome.kind];
    refunds += outcome.kind === "snooze" || outcome.kind === "release" ? `${sep}1` : `${sep}0`;
    delays += sep + (outcome.kind === "retry" || outcome.kind === "snooze" ? Math.round(outcome.delayMs) : 0);
    if ("returnJson" in record) returns[i] = record.returnJson;
    else {
      returns[i] = null;
      errors = put(errors, i, record.errorJson);
      lastErrors = put(lastErrors, i, record.lastError);
    }
    metas = put(metas, i, record.metadataJson);
    logs = put(logs, i, record.logsUri);
    if (record.keyed) keyed = true;
  }
  const result = await db.query<{ result_id: string }>({
    ...preparedStatement(
      db,
      "settle",
      schema,
      (s) => `SELECT result_id FROM ${qualify(s, "settle_runs")}($1::bigint[], $2::uuid[], $3::text[],
       $4::integer[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean)`,
    ),
    values: [
      `{${ids}}`,
      `{${tokens}}`,
      `{${statuses}}`,
      `{${refunds}}`,
      `{${delays}}`,
      returns,
      errors ?? "{}",
      lastErrors ?? "{}",
      metas ?? "{}",
      logs ?? "{}",
      keyed,
    ],
  });
  const held = new Set<string>();
  for (const row of result.rows) held.add(row.result_id);
  return held;
}

/** Saves a running run's metadata (TaskContext.saveMetadata). */
export async function saveRunMetadata(
  db: Queryable,
  schema: string,
  fence: Fence,
  metadataJson: string,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${qualify(schema, "task_runs")} SET metadata_json = $3::jsonb, updated_at = now()
      WHERE result_id = $1 AND lease_token = $2 AND status = 'RUNNING'`,
    [fence.resultId, fence.leaseToken, metadataJson],
  );
  return (result.rowCount ?? 0) > 0;
}

export interface WorkerRecord {
  workerId: string;
  hostname: string;
  pid: number;
  version: string;
  queues: string[];
  concurrency: number;
  metadata: Record<string, unknown>;
}

export async function registerWorker(db: Queryable, schema: string, worker: WorkerRecord): Promise<void> {
  await db.query(
    `INSERT INTO ${qualify(schema, "workers")} (worker_id, hostname, pid, version, queues, concurrency, metadata_json)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (worker_id) DO UPDATE
       SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, version = EXCLUDED.version, queues = EXCLUDED.queues,
           concurrency = EXCLUDED.concurrency, metadata_json = EXCLUDED.metadata_json, started_at = now(), last_seen_at = now()`,
    [
      worker.workerId,
      worker.hostname,
      worker.pid,
      worker.version,
      worker.queues,
      worker.concurrency,
      JSON.stringify(worker.metadata),
    ],
  );
}

export async function touchWorker(db: Queryable, schema: string, workerId: string): Promise<void> {
  await db.query(`UPDATE ${qualify(schema, "workers")} SET last_seen_at = now() WHERE worker_id = $1`, [
    workerId,
  ]);
}

export async function unregisterWorker(db: Queryable, schema: string, workerId: string): Promise<void> {
  await db.query(`DELETE FROM ${qualify(schema, "workers")} WHERE worker_id = $1`, [workerId]);
}
