/**
 * `reproq triage list|show|retry`: find failed runs, read one in full (spec, provenance,
 * every error and the last stack), and put failed runs back in the queue. `inspect` is an
 * alias of `show`.
 */
import { UsageError } from "../../errors.js";
import {
  type FailedRun,
  getRunDetail,
  listFailedRuns,
  type RetryOutcome,
  type RetrySelector,
  retryFailedRuns,
} from "../../ops/triage.js";
import { formatTable } from "../context.js";
import { defineCommand, defineGroup } from "../define.js";
import { checkFilter, countFlag, runIdFlag } from "../flags.js";
import { brief, runDetailLines, time } from "../run-format.js";

interface ListFlags {
  limit?: string;
  queue?: string;
  task?: string;
}

interface RetryFlags {
  id?: string;
  task?: string;
  queue?: string;
  all?: boolean;
}

const EXAMPLES = `
Examples:
  $ reproq triage list                       the 50 most recent FAILED runs
  $ reproq triage list --queue emails --limit 10
  $ reproq triage show --id 42               fields, spec, provenance, errors and the last stack
  $ reproq triage retry --id 42              back to READY with attempts from 0
  $ reproq triage retry --task emails.send   every FAILED run of a task
  $ reproq triage retry --all

Retry keeps the error history. A run whose spec is active again (enqueued anew) is skipped:
that active run is its retry.
`;

function listTable(runs: readonly FailedRun[]): string[] {
  if (runs.length === 0) return ["No failed runs."];
  return formatTable(
    ["ID", "QUEUE", "TASK", "ATTEMPTS", "FINISHED", "LAST ERROR"],
    runs.map((r) => [
      r.id,
      r.queue,
      r.taskName,
      `${r.attempts}/${r.maxAttempts}`,
      time(r.finishedAt),
      brief(r.lastError),
    ]),
  );
}

function retrySelector(opts: RetryFlags): RetrySelector {
  const byId = opts.id !== undefined;
  const byFilter = opts.task !== undefined || opts.queue !== undefined;
  const all = opts.all === true;
  if (Number(byId) + Number(byFilter) + Number(all) !== 1) {
    throw new UsageError("give exactly one of --id, a filter (--task and/or --queue) or --all");
  }
  if (opts.id !== undefined) return { id: runIdFlag(opts.id) };
  if (all) return { all: true };
  checkFilter(opts);
  return { task: opts.task, queue: opts.queue };
}

function describeRetry(outcome: RetryOutcome): string[] {
  const lines = outcome.skipped.map(
    (s) => `Skipped run ${s.id}: its spec is active again in run ${s.activeId ?? "?"}`,
  );
  const skipped = outcome.skipped.length > 0 ? `; skipped ${outcome.skipped.length} duplicate(s)` : "";
  lines.push(`Retried ${outcome.retried.length} run(s)${skipped}`);
  return lines;
}

const listCommand = defineCommand({
  name: "list",
  description: "list FAILED runs, most recently finished first",
  options: [
    { flags: "--limit <n>", description: "show at most this many (default 50)" },
    { flags: "--queue <name>", description: "only this queue" },
    { flags: "--task <name>", description: "only this task" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: ListFlags) => {
    const limit = flags.limit === undefined ? undefined : countFlag(flags.limit, "--limit");
    checkFilter(flags);
    return { limit, queue: flags.queue, task: flags.task };
  },
  run: (ctx, query) => listFailedRuns(ctx.db, ctx.schema, query),
  text: listTable,
});

const showCommand = defineCommand({
  name: "show",
  aliases: ["inspect"],
  description: "show one run in full: fields, spec, provenance, errors and the last stack",
  options: [{ flags: "--id <id>", description: "the run to show", required: true }],
  help: EXAMPLES,
  database: { max: 1 },
  parse: (flags: { id: string }) => runIdFlag(flags.id),
  run: (ctx, id) => getRunDetail(ctx.db, ctx.schema, id),
  text: runDetailLines,
});

const retryCommand = defineCommand({
  name: "retry",
  description: "put FAILED runs back in the queue (attempts from 0, error history kept)",
  options: [
    { flags: "--id <id>", description: "one run" },
    { flags: "--task <name>", description: "every FAILED run of this task" },
    { flags: "--queue <name>", description: "every FAILED run in this queue" },
    { flags: "--all", description: "every FAILED run" },
  ],
  help: EXAMPLES,
  database: { max: 1 },
  parse: retrySelector,
  run: (ctx, selector) => retryFailedRuns(ctx.db, ctx.schema, selector),
  text: describeRetry,
});

export const triageCommand = defineGroup({
  name: "triage",
  description: "list, inspect and retry failed runs",
  help: EXAMPLES,
  commands: [listCommand, showCommand, retryCommand],
});
