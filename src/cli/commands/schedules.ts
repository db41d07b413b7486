/**
 * `reproq schedules list|show|run-now|enable|disable|delete`: the periodic schedules with their
 * next and last fire, source and the scheduler mode, and the operator's switches on one of them.
 */
import {
  deleteScheduleByName,
  disableSchedule,
  enableSchedule,
  listScheduleViews,
  runScheduleNowByName,
  type ScheduleListing,
  type SchedulerState,
  type ScheduleShow,
  type ScheduleView,
  showSchedule,
} from "../../ops/schedules.js";
import type { Schedule } from "../../scheduler/schedules.js";
import { formatTable } from "../context.js";
import { type CommandContext, defineCommand, defineGroup } from "../define.js";
import { time } from "../run-format.js";

const EXAMPLES = `
Examples:
  $ reproq schedules list                  name, cron, time zone, next and last fire, enabled, source
  $ reproq --json schedules list           { mode, pgCronVersion, jobPrefix, schedules }
  $ reproq schedules show nightly-report
  $ reproq schedules run-now nightly-report   due now: the next scheduler tick enqueues it
  $ reproq schedules disable nightly-report   stays disabled across reproq sync-recurring
  $ reproq schedules enable nightly-report    next fire from the cron expression, missed ticks not owed
  $ reproq schedules delete old-cleanup

A code-defined schedule (source code) that is deleted comes back on the next reproq sync-recurring
(or the sync after reproq migrate) while the code still declares it: disable it instead.
`;

const NAME = [{ name: "<name>", description: "the schedule's name" }];

function nameArg(args: readonly string[]): string {
  return args[0] ?? "";
}

function enabledText(s: Schedule): string {
  if (s.enabled) return "yes";
  return s.disabledByOperator ? "no (by operator)" : "no";
}

function jobText(s: ScheduleView): string {
  if (s.pgCronJob === null) return "-";
  return s.pgCronJob ? "yes" : "no";
}

function modeLine(state: SchedulerState): string {
  if (state.mode !== "pg_cron") return `Scheduler mode: ${state.mode}`;
  if (state.pgCronVersion === null) {
    return "Scheduler mode: pg_cron, but the pg_cron extension is not installed (reproq doctor explains)";
  }
  return `Scheduler mode: pg_cron ${state.pgCronVersion} (jobs named ${state.jobPrefix}<schedule>)`;
}

function listLines(listing: ScheduleListing): string[] {
  const lines = [modeLine(listing)];
  if (listing.schedules.length === 0) return [...lines, "No schedules."];
  const pgCron = listing.mode === "pg_cron" && listing.pgCronVersion !== null;
  const headers = ["NAME", "CRON", "TZ", "NEXT FIRE", "LAST FIRE", "ENABLED", "SOURCE"];
  lines.push(
    ...formatTable(
      pgCron ? [...headers, "PG_CRON JOB"] : headers,
      listing.schedules.map((s) => {
        const row = [
          s.name,
          s.cron,
          s.timezone,
          time(s.nextRunAt),
          time(s.lastRunAt),
          enabledText(s),
          s.source,
        ];
        return pgCron ? [...row, jobText(s)] : row;
      }),
    ),
  );
  return lines;
}

function showLines(shown: ScheduleShow): string[] {
  const s = shown.schedule;
  const fields: Array<[string, string]> = [
    ["cron", s.cron],
    ["time zone", s.timezone],
    ["task", s.task],
    ["args", JSON.stringify(s.args)],
    ["queue", s.queue],
    ["priority", String(s.priority)],
    ["catch up", s.catchUp],
    ["enabled", enabledText(s)],
    ["next fire", time(s.nextRunAt)],
    ["last fire", time(s.lastRunAt)],
    ["source", s.source],
    ["spec hash", s.specHash ?? "-"],
    ["pg_cron job", jobText(s)],
  ];
  return [
    `Schedule ${s.name}`,
    ...formatTable(["", ""], fields)
      .slice(1)
      .map((line) => `  ${line}`),
    modeLine(shown),
  ];
}

/** Under pg_cron a job follows `reproq pg-cron --install`, not an enable or disable. */
function pgCronNote(ctx: CommandContext<object>): string[] {
  return ctx.config.values.schedulerMode === "pg_cron"
    ? ["Under pg_cron, run reproq pg-cron --install to add or remove the schedule's job"]
    : [];
}

const viewOptions = (ctx: CommandContext<object>) => ({ mode: ctx.config.values.schedulerMode });

const listCommand = defineCommand({
  name: "list",
  description: "list schedules: cron, time zone, next and last fire, enabled, source, scheduler mode",
  help: EXAMPLES,
  database: { max: 1 },
  run: (ctx) => listScheduleViews(ctx.db, ctx.schema, viewOptions(ctx)),
  text: listLines,
});

const showCommand = defineCommand({
  name: "show",
  description: "show one schedule in full",
  arguments: NAME,
  help: EXAMPLES,
  database: { max: 1 },
  parse: (_flags: object, args) => nameArg(args),
  run: (ctx, name) => showSchedule(ctx.db, ctx.schema, name, viewOptions(ctx)),
  text: showLines,
});

/** A subcommand acting on one schedule named by its argument. */
function onSchedule<Data>(spec: {
  name: string;
  description: string;
  run: (ctx: CommandContext<object>, name: string) => Promise<Data>;
  text: (data: Data) => string;
  notes?: (data: Data) => string[];
  /** Whether the change needs reproq pg-cron --install to reach the schedule's pg_cron job (default true). */
  changesJob?: boolean;
}) {
  return defineCommand({
    name: spec.name,
    description: spec.description,
    arguments: NAME,
    help: EXAMPLES,
    database: { max: 1 },
    parse: (_flags: object, args) => nameArg(args),
    run: (ctx, name) => spec.run(ctx, name),
    text: spec.text,
    notes: (data, ctx) => [
      ...(spec.notes?.(data) ?? []),
      ...(spec.changesJob === false ? [] : pgCronNote(ctx)),
    ],
  });
}

const runNowCommand = onSchedule({
  name: "run-now",
  description: "run a schedule now (beat: due at the next tick; pg_cron: enqueued at once)",
  run: (ctx, name) => runScheduleNowByName(ctx.db, ctx.schema, name, viewOptions(ctx)),
  text: (outcome) =>
    outcome.runId !== null
      ? `Enqueued run ${outcome.runId} for schedule ${outcome.schedule.name}`
      : outcome.mode === "pg_cron"
        ? `Schedule ${outcome.schedule.name}: nothing was enqueued (it was disabled or changed meanwhile); see reproq schedules show ${outcome.schedule.name}`
        : `Schedule ${outcome.schedule.name} is due now; the next scheduler tick enqueues it`,
  changesJob: false,
});

const enableCommand = onSchedule({
  name: "enable",
  description: "enable a schedule (also one disabled by an operator)",
  run: (ctx, name) => enableSchedule(ctx.db, ctx.schema, name),
  text: (s) => `Enabled schedule ${s.name}; next fire ${time(s.nextRunAt)}`,
});

const disableCommand = onSchedule({
  name: "disable",
  description: "disable a schedule; reproq sync-recurring keeps it disabled",
  run: (ctx, name) => disableSchedule(ctx.db, ctx.schema, name),
  text: (s) =>
    s.source === "code"
      ? `Disabled schedule ${s.name}; reproq sync-recurring keeps it disabled until reproq schedules enable`
      : `Disabled schedule ${s.name}`,
});

const deleteCommand = onSchedule({
  name: "delete",
  description: "delete a schedule",
  run: (ctx, name) => deleteScheduleByName(ctx.db, ctx.schema, name),
  text: (s) => `Deleted schedule ${s.name}`,
  notes: (s) =>
    s.source === "code"
      ? [
          "It is defined in code: reproq sync-recurring saves it again; use reproq schedules disable to keep it off",
        ]
      : [],
});

export const schedulesCommand = defineGroup({
  name: "schedules",
  description: "list, show, run now, enable, disable and delete schedules",
  help: EXAMPLES,
  commands: [listCommand, showCommand, runNowCommand, enableCommand, disableCommand, deleteCommand],
});
