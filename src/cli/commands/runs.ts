/**
 * `reproq runs list|show`: runs of any status, newest first, filtered and paged by a cursor;
 * and one run in full (the same view as `triage show`).
 */
import { UsageError } from "../../errors.js";
import {
  getRunDetail,
  listRuns,
  MAX_RUN_LIMIT,
  parseCursor,
  parseRunTimeField,
  parseTimeBound,
  RUN_TIME_FIELDS,
  type RunListPage,
  type RunListQuery,
} from "../../ops/runs.js";
import { parseStatuses, TASK_STATUSES } from "../../status.js";
import { formatTable } from "../context.js";
import { defineCommand, defineGroup } from "../define.js";
import { asUsage, checkFilter, countFlag, runIdFlag } from "../flags.js";
import { brief, runDetailLines, time } from "../run-format.js";

interface ListFlags {
  status?: string[];
  queue?: string;
  task?: string;
  since?: string;
  until?: string;
  field?: string;
  limit?: string;
  after?: string;
}

const EXAMPLES = `
Examples:
  $ reproq runs list                                  the 50 newest runs
  $ reproq runs list --status FAILED,EXPIRED --queue emails
  $ reproq runs list --status READY --status RUNNING --task emails.send
  $ reproq runs list --since 1h                       enqueued in the last hour
  $ reproq runs list --field finished_at --since 2026-01-31T00:00:00Z --until 1d
  $ reproq runs list --after 41873                    the next page (the cursor the last one printed)
  $ reproq --json runs list --limit 200               { runs, nextCursor, partial }
  $ reproq runs show 42                               one run in full

Runs are listed newest (highest id) first. Each page walks at most 10000 ids backwards from the
cursor, so a rare filter can give a short page (or none) with a cursor to go on; the list has
ended when no cursor is printed (nextCursor null).
`;

function statusList(given: readonly string[] | undefined): string[] {
  const parts = (given ?? []).flatMap((value) => value.split(",")).filter((part) => part.trim() !== "");
  if (given !== undefined && parts.length === 0) {
    throw new UsageError(`--status: give at least one of ${TASK_STATUSES.join(", ")}`);
  }
  return parts;
}

/** Every flag is checked here, so a mistyped one is a usage error (exit 2) before any query. */
function listQuery(flags: ListFlags): RunListQuery {
  checkFilter(flags);
  const limit = flags.limit === undefined ? undefined : countFlag(flags.limit, "--limit");
  if (limit !== undefined && limit > MAX_RUN_LIMIT) {
    throw new UsageError(`--limit: at most ${MAX_RUN_LIMIT}; page on with --after for more`);
  }
  const field = asUsage("--field", () => parseRunTimeField(flags.field));
  const now = new Date();
  const bound = (value: string | undefined, flag: string) =>
    value === undefined ? undefined : asUsage(flag, () => parseTimeBound(value, flag, now));
  const since = bound(flags.since, "--since");
  const until = bound(flags.until, "--until");
  if (since !== undefined && until !== undefined && since >= until) {
    throw new UsageError(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`);
  }
  if (flags.after !== undefined) asUsage("--after", () => parseCursor(flags.after!));
  return {
    statuses: asUsage("--status", () => parseStatuses(statusList(flags.status))),
    queue: flags.queue,
    task: flags.task,
    since,
    until,
    field,
    limit,
    after: flags.after,
  };
}

function attempts(run: { attempts: number; maxAttempts: number }): string {
  return `${run.attempts}/${run.maxAttempts}`;
}

function listLines(page: RunListPage): string[] {
  const lines =
    page.runs.length === 0
      ? ["No runs in this page."]
      : formatTable(
          ["ID", "STATUS", "QUEUE", "TASK", "ATTEMPTS", "ENQUEUED", "FINISHED", "LAST ERROR"],
          page.runs.map((r) => [
            r.id,
            r.status,
            r.queue,
            r.taskName,
            attempts(r),
            time(r.enqueuedAt),
            time(r.finishedAt),
            brief(r.lastError, 60),
          ]),
        );
  if (page.nextCursor === null) {
    lines.push("End of list.");
  } else {
    const why = page.partial ? " (this page reached its walk bound; older matches may follow)" : "";
    lines.push(`Next page: --after ${page.nextCursor}${why}`);
  }
  return lines;
}

const listCommand = defineCommand({
  name: "list",
  description: "list runs of any status, newest first, with filters and a cursor for the next page",
  options: [
    {
      flags: "--status <statuses...>",
      description: `only these statuses (repeat it or use commas): ${TASK_STATUSES.join(", ")}`,
    },
    { flags: "--queue <name>", description: "only this queue" },
    { flags: "--task <name>", description: "only this task" },
    { flags: "--since <time>", description: "from this time on: ISO time, or a duration ago (1h, 7d)" },
    { flags: "--until <time>", description: "before this time: ISO time, or a duration ago" },
    {
      flags: "--field <column>",
      description: `the column --since/--until apply to: ${RUN_TIME_FIELDS.join(" or ")} (default enqueued_at)`,
    },
    { flags: "--limit <n>", description: `runs per page (default 50, at most ${MAX_RUN_LIMIT})` },
    { flags: "--after <cursor>", description: "the next page: the cursor the previous page ended with" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: ListFlags) => listQuery(flags),
  run: (ctx, query) => listRuns(ctx.db, ctx.schema, query),
  text: listLines,
});

const showCommand = defineCommand({
  name: "show",
  description: "show one run in full: fields, spec, provenance, metadata, errors and the last stack",
  arguments: [{ name: "<id>", description: "the run id" }],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (_flags: object, args) => runIdFlag(args[0] ?? "", "<id>"),
  run: (ctx, id) => getRunDetail(ctx.db, ctx.schema, id),
  text: runDetailLines,
});

export const runsCommand = defineGroup({
  name: "runs",
  description: "list runs with filters and paging, and show one run in full",
  help: EXAMPLES,
  commands: [listCommand, showCommand],
});
