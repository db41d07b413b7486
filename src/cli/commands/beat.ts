/**
 * `reproq beat`: the long-lived scheduler (leader-elected, one active per database and schema),
 * and `--once` for one tick from crontab (also `reproq schedule`). Each due schedule is enqueued
 * and advanced in its own transaction; exit 0 on a clean stop.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { prepareScheduler, type ScheduleTickReport, tickSchedulesOnce } from "../../ops/schedule.js";
import { Beat } from "../../scheduler/beat.js";
import { requireDatabaseUrl } from "../context.js";
import { type CommandContext, type CommandSpec, defineCommand, type OptionSpec } from "../define.js";
import { durationFlag } from "../flags.js";
import { cliLogger } from "../log.js";
import { LOG_OPTIONS, tasksOption } from "../options.js";

interface BeatFlags {
  tasks?: string[];
  interval?: string;
  once?: boolean;
}

const EXAMPLES = `
Examples:
  $ reproq beat --tasks "dist/tasks/**/*.js"          run the scheduler (one is active per database)
  $ reproq beat --interval 10s
  $ reproq beat --once                                one tick, for crontab (same as reproq schedule)
  * * * * * reproq schedule --dsn postgres://app@db/app   (a crontab line)

Several beats may run: one leads, the others stand by and take over if it stops.
A one-shot that finds another scheduler active exits 0 and says so.
`;

const SCHEDULE_EXAMPLES = `
Examples:
  $ reproq schedule                        enqueue every due schedule once, then exit
  $ reproq --json schedule                 print { schema, leader, schedules }
  * * * * * cd /app && reproq schedule     (a crontab line: one tick a minute)

Exits 0 without enqueueing when another scheduler (a beat) is active, and says so.
`;

/** The scheduler holds one connection for its leader lock and uses one more per tick. */
const BEAT_DATABASE = { max: 2, role: "beat" };

/** The database is checked first, then the scheduler mode, then the task modules are imported. */
function prepare(ctx: CommandContext<BeatFlags>): Promise<Record<string, unknown>> {
  requireDatabaseUrl(ctx.config);
  return prepareScheduler(ctx.config.values, ctx.cwd);
}

/** One tick unless another scheduler is active; returns undefined for the long-lived beat. */
async function schedule(ctx: CommandContext<BeatFlags>, intervalMs: number | undefined) {
  const provenance = await prepare(ctx);
  if (intervalMs === undefined) return tickSchedulesOnce(ctx.db, ctx.schema, provenance);
  const { logLevel, logFormat } = ctx.config.values;
  await runBeat(
    ctx.db,
    ctx.schema,
    intervalMs,
    provenance,
    cliLogger({ role: "beat", level: logLevel, format: logFormat }),
  );
  return undefined;
}

/** Runs the scheduler until SIGTERM or SIGINT. */
async function runBeat(
  pool: pg.Pool,
  schema: string,
  intervalMs: number,
  provenance: Record<string, unknown>,
  log: Logger,
): Promise<void> {
  const beat = Beat.start({ pool, schema, intervalMs, provenance, log });
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, "stopping");
    void beat.stop();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  try {
    await beat.finished;
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
  }
}

function describeTick(report: ScheduleTickReport): string[] {
  if (!report.leader) {
    return [
      `Another scheduler is active on schema "${report.schema}"; it enqueues the due schedules, so this run did nothing`,
    ];
  }
  const lines = report.schedules.map((s) => {
    if (s.error) return `schedule ${s.name}: failed: ${s.error}`;
    const parts = [`${s.runIds.length} run(s) enqueued${s.runIds.length ? ` (${s.runIds.join(", ")})` : ""}`];
    if (s.deduplicated) parts.push(`${s.deduplicated} already active`);
    if (s.skippedMissed) parts.push("missed ticks skipped");
    parts.push(`next run ${s.nextRunAt ? s.nextRunAt.toISOString() : "never"}`);
    return `schedule ${s.name}: ${parts.join(", ")}`;
  });
  const runs = report.schedules.reduce((n, s) => n + s.runIds.length, 0);
  lines.push(
    report.schedules.length === 0
      ? "No schedule is due"
      : `Enqueued ${runs} run(s) for ${report.schedules.length} due schedule(s)`,
  );
  return lines;
}

/** A schedule that failed makes the exit status 1 (the tick's report is printed first). */
function failedSchedules(report: ScheduleTickReport | undefined): string | undefined {
  const failed = (report?.schedules ?? []).filter((s) => s.error).map((s) => s.name);
  if (failed.length > 0) throw new Error(`${failed.length} schedule(s) failed: ${failed.join(", ")}`);
  return undefined;
}

type TickSpec = Pick<
  CommandSpec<BeatFlags, number | undefined, ScheduleTickReport | undefined>,
  "database" | "text" | "verdict"
>;

const TICK_OUTPUT: TickSpec = {
  database: BEAT_DATABASE,
  text: (report) => (report === undefined ? null : describeTick(report)),
  verdict: failedSchedules,
};

const TASKS: OptionSpec = tasksOption();

export const beatCommand = defineCommand<BeatFlags, number | undefined, ScheduleTickReport | undefined>({
  name: "beat",
  description: "run the scheduler: enqueue due periodic tasks (one active scheduler per database)",
  options: [
    TASKS,
    { flags: "--interval <duration>", description: "how often to look for due schedules (default 30s)" },
    { flags: "--once", description: "one tick, then exit (for crontab); same as `reproq schedule`" },
    ...Object.values(LOG_OPTIONS),
  ],
  help: EXAMPLES,
  ...TICK_OUTPUT,
  // --interval is read (and checked) only for the long-lived scheduler.
  parse: (flags) =>
    flags.once
      ? undefined
      : flags.interval === undefined
        ? 30_000
        : durationFlag(flags.interval, "--interval"),
  run: schedule,
});

export const scheduleCommand = defineCommand<BeatFlags, number | undefined, ScheduleTickReport | undefined>({
  name: "schedule",
  description: "enqueue due periodic tasks once (for crontab); same as `reproq beat --once`",
  options: [TASKS],
  help: SCHEDULE_EXAMPLES,
  ...TICK_OUTPUT,
  run: (ctx) => schedule(ctx, undefined),
});
