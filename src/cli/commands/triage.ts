/**
 * `reproq triage list|show|retry`: find failed runs, read one in full (spec, provenance,
 * every error and the last stack), and put failed runs back in the queue. `inspect` is an
 * alias of `show`.
 */
import { validateQueueName } from "../../definition.js";
import { UsageError } from "../../errors.js";
import {
  type FailedRun,
  getRunDetail,
  listFailedRuns,
  type RetryOutcome,
  type RetrySelector,
  type RunDetail,
  retryFailedRuns,
} from "../../ops/triage.js";
import { formatTable } from "../context.js";
import { defineCommand, defineGroup } from "../define.js";
import { asUsage, countFlag, runIdFlag } from "../flags.js";

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

/** The first line of an error, shortened so a table row stays on one line. */
function brief(text: string | null, max = 80): string {
  if (text === null) return "-";
  const line = text.split("\n")[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function time(value: Date | null): string {
  return value === null ? "-" : value.toISOString();
}

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

function indent(text: string): string[] {
  return text.split("\n").map((line) => `  ${line}`);
}

function detail(run: RunDetail): string[] {
  const fields: Array<[string, string]> = [
    ["task", run.taskName],
    ["queue", run.queue],
    ["priority", String(run.priority)],
    ["attempts", `${run.attempts}/${run.maxAttempts}`],
    ["timeout", `${run.timeoutSeconds}s`],
    ["enqueued", time(run.enqueuedAt)],
    ["run after", time(run.runAfter)],
    ["started", time(run.startedAt)],
    ["last attempt", time(run.lastAttemptedAt)],
    ["finished", time(run.finishedAt)],
    ["expires", time(run.expiresAt)],
    ["workers", run.workerIds.length > 0 ? run.workerIds.join(", ") : "-"],
    ["lock key", run.lockKey ?? "-"],
    [
      "concurrency",
      run.concurrencyKey === null ? "-" : `${run.concurrencyKey} (limit ${run.concurrencyLimit})`,
    ],
    ["workflow", run.workflowId ?? "-"],
    ["parent", run.parentId ?? "-"],
    ["spec hash", run.specHash],
    // Replays and runs enqueued with dedupActive off carry no key: an equal enqueue is not merged into them.
    ["dedup", run.dedupKey === null ? "off" : "on"],
    ["cancel asked", run.cancelRequested ? "yes" : "no"],
    ["logs", run.logsUri ?? "-"],
    ["last error", brief(run.lastError, 200)],
  ];
  const lines = [`Run ${run.id}  ${run.status}`];
  lines.push(
    ...formatTable(["", ""], fields)
      .slice(1)
      .map((line) => `  ${line}`),
  );
  lines.push("", "Spec:", ...indent(JSON.stringify(run.spec, null, 2)));
  lines.push("", "Provenance:", ...indent(JSON.stringify(run.provenance, null, 2)));
  lines.push("", `Errors (${run.errors.length}):`);
  run.errors.forEach((error, index) => {
    const where = [
      error.attempt === undefined || error.attempt === null ? null : `attempt ${error.attempt}`,
      error.worker ? `worker ${error.worker}` : null,
      error.at ?? null,
    ].filter((part) => part !== null);
    const what = error.class ? `${error.class}: ${error.message}` : error.message;
    lines.push(`  ${index + 1}. [${error.kind}] ${what}${where.length > 0 ? ` (${where.join(", ")})` : ""}`);
  });
  const stack = run.errors.at(-1)?.stack;
  if (stack) lines.push("", "Stack of the last error:", ...indent(stack));
  return lines;
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

/** --queue must be a valid queue name and --task not empty: a typo is a usage error, not "no runs". */
function checkFilter(opts: { queue?: string; task?: string }): void {
  if (opts.queue !== undefined) asUsage("--queue", () => validateQueueName(opts.queue, "--queue"));
  if (opts.task !== undefined && opts.task.trim() === "") throw new UsageError("--task: must not be empty");
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
  text: detail,
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
