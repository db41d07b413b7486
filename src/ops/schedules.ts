/**
 * Schedules for operators (`reproq schedules ...`, and a dashboard through the same functions):
 * list and show them with the scheduler mode (and, under pg_cron, whether each has its job),
 * run one now, enable, disable and delete. An unknown name is a ScheduleNotFoundError.
 */
import type { ReproqConfig } from "../config/schema.js";
import { guarded, type Queryable } from "../db/pool.js";
import { ConflictError, ScheduleNotFoundError } from "../errors.js";
import { parseCron } from "../scheduler/cron.js";
import { DEFAULT_JOB_PREFIX, jobName } from "../scheduler/pg-cron.js";
import {
  deleteScheduleIn,
  disableScheduleIn,
  enableScheduleIn,
  getScheduleIn,
  listSchedulesIn,
  runScheduleNowIn,
  type Schedule,
  validateScheduleName,
} from "../scheduler/schedules.js";
import { callEnqueueSchedule, pgCronVersion, selectCronJobs } from "../sql/schedules.js";

export type SchedulerMode = NonNullable<ReproqConfig["schedulerMode"]>;

export interface ScheduleView extends Schedule {
  /** Under schedulerMode pg_cron with pg_cron installed: whether its job exists; null otherwise. */
  pgCronJob: boolean | null;
}

export interface SchedulerState {
  /** The schedulerMode setting; unset means beat. */
  mode: SchedulerMode;
  /** Under pg_cron: the installed pg_cron version, or null when the extension is missing. */
  pgCronVersion: string | null;
  /** The job-name prefix looked for under pg_cron. */
  jobPrefix: string;
}

export interface ScheduleListing extends SchedulerState {
  schedules: ScheduleView[];
}

export interface ScheduleShow extends SchedulerState {
  schedule: ScheduleView;
}

export interface ScheduleViewOptions {
  mode?: SchedulerMode;
  /** Default "reproq:", as `reproq pg-cron` uses. */
  jobPrefix?: string;
}

/** The scheduler mode, and under pg_cron the job names that exist with the prefix. */
async function schedulerState(
  db: Queryable,
  schema: string,
  options: ScheduleViewOptions,
): Promise<{ state: SchedulerState; jobs: Set<string> | null }> {
  const mode = options.mode ?? "beat";
  const jobPrefix = options.jobPrefix ?? DEFAULT_JOB_PREFIX;
  if (mode !== "pg_cron") return { state: { mode, pgCronVersion: null, jobPrefix }, jobs: null };
  return guarded(schema, async () => {
    const version = await pgCronVersion(db);
    const jobs =
      version === null ? null : new Set((await selectCronJobs(db, jobPrefix)).map((j) => j.jobname));
    return { state: { mode, pgCronVersion: version, jobPrefix }, jobs };
  });
}

/**
 * The schedule as the scheduler in charge sees it. A disabled schedule has no next fire. Under
 * pg_cron the stored next_run_at is beat's and stands still, so the next fire is computed from
 * the cron expression (in UTC, as pg_cron reads it; the job runs it).
 */
function view(schedule: Schedule, state: SchedulerState, jobs: Set<string> | null, now: Date): ScheduleView {
  const pgCronJob = jobs === null ? null : jobs.has(jobName(state.jobPrefix, schedule.name));
  let nextRunAt = schedule.enabled ? schedule.nextRunAt : null;
  if (schedule.enabled && state.mode === "pg_cron") {
    try {
      nextRunAt = parseCron(schedule.cron, "UTC", `schedule "${schedule.name}"`).next(now);
    } catch {
      // A cron expression croner refuses is reported by reproq pg-cron --install; keep the stored time.
    }
  }
  return { ...schedule, nextRunAt, pgCronJob };
}

/** Every schedule by name, with the scheduler mode. */
export async function listScheduleViews(
  db: Queryable,
  schema: string,
  options: ScheduleViewOptions = {},
): Promise<ScheduleListing> {
  const { state, jobs } = await schedulerState(db, schema, options);
  const schedules = await listSchedulesIn(db, schema);
  const now = new Date();
  return { ...state, schedules: schedules.map((s) => view(s, state, jobs, now)) };
}

function found<T>(value: T | null, name: string): T {
  if (value === null) throw new ScheduleNotFoundError(name);
  return value;
}

/** One schedule with the scheduler mode; ScheduleNotFoundError when there is none. */
export async function showSchedule(
  db: Queryable,
  schema: string,
  name: string,
  options: ScheduleViewOptions = {},
): Promise<ScheduleShow> {
  validateScheduleName(name);
  const { state, jobs } = await schedulerState(db, schema, options);
  const schedule = found(await getScheduleIn(db, schema, name), name);
  return { ...state, schedule: view(schedule, state, jobs, new Date()) };
}

export interface RunNowOutcome {
  schedule: Schedule;
  mode: SchedulerMode;
  /**
   * Under pg_cron: the run enqueue_schedule() made (or the active identical run it deduplicated
   * into). Otherwise null: the schedule is due now and the next beat tick (or `reproq schedule`)
   * enqueues it.
   */
  runId: string | null;
}

/**
 * Runs a schedule now. Under beat or cron mode it becomes due now and the next scheduler tick
 * enqueues it (catch-up and the next fire as usual); under pg_cron, where nothing reads the due
 * time, it is enqueued here and now as its job would. A disabled schedule is a ConflictError.
 */
export async function runScheduleNowByName(
  db: Queryable,
  schema: string,
  name: string,
  options: Pick<ScheduleViewOptions, "mode"> = {},
): Promise<RunNowOutcome> {
  const mode = options.mode ?? "beat";
  const existing = found(await getScheduleIn(db, schema, validateScheduleName(name)), name);
  if (!existing.enabled) {
    throw new ConflictError(`schedule "${name}" is disabled; run reproq schedules enable ${name} first`);
  }
  if (mode !== "pg_cron") return { schedule: await runScheduleNowIn(db, schema, name), mode, runId: null };
  const runId = await guarded(schema, () => callEnqueueSchedule(db, schema, name));
  const schedule = found(await getScheduleIn(db, schema, name), name);
  return { schedule, mode, runId };
}

/** Enables a schedule (clearing an operator's disable); the next tick follows its cron expression. */
export async function enableSchedule(db: Queryable, schema: string, name: string): Promise<Schedule> {
  return found(await enableScheduleIn(db, schema, validateScheduleName(name)), name);
}

/** Disables a schedule; the recurring sync keeps a code-defined one disabled until enabled again. */
export async function disableSchedule(db: Queryable, schema: string, name: string): Promise<Schedule> {
  return found(await disableScheduleIn(db, schema, validateScheduleName(name)), name);
}

/**
 * Deletes a schedule and returns it as it was; ScheduleNotFoundError when there was none. A
 * code-defined one is saved again by the next recurring sync while the code declares it.
 */
export async function deleteScheduleByName(db: Queryable, schema: string, name: string): Promise<Schedule> {
  const existing = found(await getScheduleIn(db, schema, validateScheduleName(name)), name);
  if (!(await deleteScheduleIn(db, schema, name))) throw new ScheduleNotFoundError(name);
  return existing;
}
