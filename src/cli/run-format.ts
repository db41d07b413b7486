/** How a run is shown on the command line, shared by `triage` and `runs`. */
import type { RunDetail } from "../ops/triage.js";
import { formatTable } from "./context.js";

/** The first line of an error, shortened so a table row stays on one line. */
export function brief(text: string | null, max = 80): string {
  if (text === null) return "-";
  const line = text.split("\n")[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function time(value: Date | null): string {
  return value === null ? "-" : value.toISOString();
}

function indent(text: string): string[] {
  return text.split("\n").map((line) => `  ${line}`);
}

/** Every field of one run, its spec, provenance, errors and the last stack (triage show, runs show). */
export function runDetailLines(run: RunDetail): string[] {
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
  if (Object.keys(run.metadata).length > 0) {
    lines.push("", "Metadata:", ...indent(JSON.stringify(run.metadata, null, 2)));
  }
  if (run.returnJson !== null) {
    lines.push("", "Return value (as stored):", ...indent(JSON.stringify(run.returnJson, null, 2)));
  }
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
