/** Queries on periodic_tasks (schedules) and the SQL producer functions of migration 4. */
import { qualify, quoteIdent } from "../db/names.js";
import type { Queryable } from "../db/pool.js";

export type CatchUpPolicy = "one" | "all" | "none";

export interface ScheduleRow {
  name: string;
  cron_expr: string;
  timezone: string;
  task_path: string;
  queue_name: string;
  priority: number;
  payload_json: Record<string, unknown>;
  options_json: Record<string, unknown>;
  spec_json: Record<string, unknown> | null;
  spec_canonical: string | null;
  spec_hash: string | null;
  catch_up: CatchUpPolicy;
  enabled: boolean;
  next_run_at: Date | null;
  last_run_at: Date | null;
  source: "code" | "manual";
  /** Turned off with `reproq schedules disable`; the recurring sync leaves it disabled. */
  disabled_by_operator: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface ScheduleWrite {
  name: string;
  cronExpr: string;
  timezone: string;
  taskPath: string;
  queueName: string;
  priority: number;
  payloadJson: string;
  optionsJson: string;
  specCanonical: string;
  specHash: string;
  catchUp: CatchUpPolicy;
  enabled: boolean;
  /** Explicit next run (e.g. "run now"); null keeps the stored one while the timing is unchanged. */
  nextRunAt: Date | null;
  /** The next tick computed from the cron expression, used when the timing changed or none is stored. */
  computedNextRunAt: Date;
  source: "code" | "manual";
}

/**
 * Inserts or updates a schedule. With `onlySource`, an existing row of another source is left
 * alone and null is returned (sync-recurring never overwrites a manual schedule).
 */
export async function upsertScheduleRow(
  db: Queryable,
  schema: string,
  w: ScheduleWrite,
  onlySource?: "code" | "manual",
): Promise<ScheduleRow | null> {
  const t = qualify(schema, "periodic_tasks");
  const result = await db.query<ScheduleRow>(
    `INSERT INTO ${t} AS p (name, cron_expr, timezone, task_path, queue_name, priority, payload_json, options_json,
                            spec_json, spec_canonical, spec_hash, catch_up, enabled, next_run_at, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, ($9::text)::jsonb, $9::text, $10, $11, $12,
             coalesce($13::timestamptz, $14::timestamptz), $15)
     ON CONFLICT (name) DO UPDATE SET
       cron_expr = EXCLUDED.cron_expr, timezone = EXCLUDED.timezone, task_path = EXCLUDED.task_path,
       queue_name = EXCLUDED.queue_name, priority = EXCLUDED.priority, payload_json = EXCLUDED.payload_json,
       options_json = EXCLUDED.options_json, spec_json = EXCLUDED.spec_json,
       spec_canonical = EXCLUDED.spec_canonical, spec_hash = EXCLUDED.spec_hash, catch_up = EXCLUDED.catch_up,
       -- The recurring sync (onlySource "code") keeps a schedule an operator disabled disabled;
       -- any other save decides for itself and clears the mark.
       enabled = CASE WHEN $16::text = 'code' AND p.disabled_by_operator THEN false ELSE EXCLUDED.enabled END,
       disabled_by_operator = coalesce($16::text = 'code', false) AND p.disabled_by_operator,
       source = EXCLUDED.source, updated_at = now(),
       -- Keep the pending tick while the timing is unchanged, so re-saving never skips or repeats one.
       next_run_at = CASE
         WHEN $13::timestamptz IS NOT NULL THEN $13::timestamptz
         WHEN p.enabled AND p.next_run_at IS NOT NULL AND p.cron_expr = EXCLUDED.cron_expr
              AND p.timezone = EXCLUDED.timezone THEN p.next_run_at
         ELSE $14::timestamptz END
     WHERE $16::text IS NULL OR p.source = $16::text
     RETURNING *`,
    [
      w.name,
      w.cronExpr,
      w.timezone,
      w.taskPath,
      w.queueName,
      w.priority,
      w.payloadJson,
      w.optionsJson,
      w.specCanonical,
      w.specHash,
      w.catchUp,
      w.enabled,
      w.nextRunAt ? w.nextRunAt.toISOString() : null,
      w.computedNextRunAt.toISOString(),
      w.source,
      onlySource ?? null,
    ],
  );
  return result.rows[0] ?? null;
}

export async function selectSchedules(db: Queryable, schema: string): Promise<ScheduleRow[]> {
  const result = await db.query<ScheduleRow>(
    `SELECT * FROM ${qualify(schema, "periodic_tasks")} ORDER BY name`,
  );
  return result.rows;
}

export async function selectSchedule(
  db: Queryable,
  schema: string,
  name: string,
): Promise<ScheduleRow | null> {
  const result = await db.query<ScheduleRow>(
    `SELECT * FROM ${qualify(schema, "periodic_tasks")} WHERE name = $1`,
    [name],
  );
  return result.rows[0] ?? null;
}

export async function deleteScheduleRow(db: Queryable, schema: string, name: string): Promise<boolean> {
  const result = await db.query(`DELETE FROM ${qualify(schema, "periodic_tasks")} WHERE name = $1`, [name]);
  return (result.rowCount ?? 0) > 0;
}

/** Sets next_run_at to the database's now(); false when there is no such schedule. */
export async function setNextRunNow(
  db: Queryable,
  schema: string,
  name: string,
): Promise<ScheduleRow | null> {
  const result = await db.query<ScheduleRow>(
    `UPDATE ${qualify(schema, "periodic_tasks")} SET next_run_at = now(), updated_at = now()
      WHERE name = $1 RETURNING *`,
    [name],
  );
  return result.rows[0] ?? null;
}

/**
 * Turns a schedule on or off by hand. Disabling marks it disabled_by_operator, so the recurring
 * sync does not turn it back on; enabling clears the mark and sets the next tick (`nextRunAt`,
 * computed by the caller from the cron expression, since ticks missed while off are not owed).
 * Null when there is no such schedule.
 */
export async function setScheduleEnabled(
  db: Queryable,
  schema: string,
  name: string,
  enabled: boolean,
  nextRunAt: Date | null,
): Promise<ScheduleRow | null> {
  const result = await db.query<ScheduleRow>(
    `UPDATE ${qualify(schema, "periodic_tasks")}
        SET enabled = $2, disabled_by_operator = NOT $2,
            next_run_at = CASE WHEN $2 AND NOT enabled THEN $3::timestamptz ELSE next_run_at END,
            updated_at = now()
      WHERE name = $1 RETURNING *`,
    [name, enabled, nextRunAt ? nextRunAt.toISOString() : null],
  );
  return result.rows[0] ?? null;
}

/** Disables code-defined schedules not in `keep`; returns their names. Manual schedules are never touched. */
export async function disableMissingCodeSchedules(
  db: Queryable,
  schema: string,
  keep: readonly string[],
): Promise<string[]> {
  const result = await db.query<{ name: string }>(
    `UPDATE ${qualify(schema, "periodic_tasks")} SET enabled = false, updated_at = now()
      WHERE source = 'code' AND enabled AND NOT (name = ANY($1::text[]))
      RETURNING name`,
    [keep],
  );
  return result.rows.map((r) => r.name).sort();
}

/** Names of enabled schedules due at the database clock, oldest first. */
export async function selectDueNames(db: Queryable, schema: string): Promise<{ names: string[]; now: Date }> {
  const result = await db.query<{ name: string | null; now: Date }>(
    `SELECT p.name, c.now FROM (SELECT now() AS now) c
       LEFT JOIN ${qualify(schema, "periodic_tasks")} p ON p.enabled AND p.next_run_at <= c.now
      ORDER BY p.next_run_at, p.name`,
  );
  return {
    names: result.rows.flatMap((r) => (r.name === null ? [] : [r.name])),
    now: result.rows[0]?.now ?? new Date(),
  };
}

/** Locks one schedule if it is still enabled and due (re-checked inside the caller's transaction). */
export async function lockDueSchedule(
  db: Queryable,
  schema: string,
  name: string,
): Promise<ScheduleRow | null> {
  const result = await db.query<ScheduleRow>(
    `SELECT * FROM ${qualify(schema, "periodic_tasks")}
      WHERE name = $1 AND enabled AND next_run_at <= now() FOR UPDATE`,
    [name],
  );
  return result.rows[0] ?? null;
}

export async function advanceSchedule(
  db: Queryable,
  schema: string,
  name: string,
  nextRunAt: Date | null,
  ran: boolean,
): Promise<void> {
  await db.query(
    `UPDATE ${qualify(schema, "periodic_tasks")}
        SET next_run_at = $2, last_run_at = CASE WHEN $3 THEN now() ELSE last_run_at END, updated_at = now()
      WHERE name = $1`,
    [name, nextRunAt ? nextRunAt.toISOString() : null, ran],
  );
}

/** Calls `<schema>.enqueue_schedule(name)`; returns the run id (null for a disabled schedule). */
export async function callEnqueueSchedule(
  db: Queryable,
  schema: string,
  name: string,
): Promise<string | null> {
  const result = await db.query<{ id: string | null }>(
    `SELECT ${quoteIdent(schema)}.enqueue_schedule($1) AS id`,
    [name],
  );
  return result.rows[0]?.id ?? null;
}

/** The SQL that a pg_cron job runs for one schedule. */
export function enqueueScheduleCall(schema: string, name: string): string {
  return `SELECT ${quoteIdent(schema)}.enqueue_schedule('${name.replaceAll("'", "''")}')`;
}

export interface CronJobRow {
  jobid: string;
  jobname: string;
  schedule: string;
  command: string;
  database: string;
  active: boolean;
}

/** Installed pg_cron version in this database, or null. */
export async function pgCronVersion(db: Queryable): Promise<string | null> {
  const result = await db.query<{ v: string }>(
    "SELECT extversion AS v FROM pg_extension WHERE extname = 'pg_cron'",
  );
  return result.rows[0]?.v ?? null;
}

export async function selectCronJobs(db: Queryable, prefix: string): Promise<CronJobRow[]> {
  const result = await db.query<CronJobRow>(
    `SELECT jobid::text AS jobid, jobname, schedule, command, database, active FROM cron.job
      WHERE jobname IS NOT NULL AND left(jobname, length($1)) = $1 ORDER BY jobname`,
    [prefix],
  );
  return result.rows;
}

export async function scheduleCronJob(
  db: Queryable,
  jobName: string,
  cron: string,
  command: string,
): Promise<void> {
  await db.query("SELECT cron.schedule($1, $2, $3)", [jobName, cron, command]);
}

export async function unscheduleCronJob(db: Queryable, jobName: string): Promise<void> {
  await db.query("SELECT cron.unschedule($1)", [jobName]);
}

/** The current transaction's start time on the database's clock (now()). */
export async function transactionNow(db: Queryable): Promise<Date> {
  const result = await db.query<{ now: Date }>("SELECT now() AS now");
  return result.rows[0]!.now;
}
