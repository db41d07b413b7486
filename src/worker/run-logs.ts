/**
 * Per-run log files: what a run writes to stdout/stderr is appended to
 * <logsDir>/task-<id>-attempt-<n>.log, whose path becomes task_runs.logs_uri.
 * Nothing is created for a run that writes nothing.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { OutputSink } from "./output-capture.js";

export class RunLogs implements OutputSink {
  readonly file: string;
  #dir: string;
  #written = false;

  constructor(logsDir: string, resultId: string, attempt: number) {
    this.#dir = path.resolve(logsDir);
    this.file = path.join(this.#dir, `task-${resultId}-attempt-${attempt}.log`);
  }

  write(stream: "stdout" | "stderr", chunk: string | Uint8Array): void {
    if (!this.#written) {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      this.#written = true;
    }
    // Synchronous appends keep the order of interleaved stdout/stderr writes.
    appendFileSync(this.file, stream === "stderr" ? prefixLines(chunk) : chunk, { mode: 0o600 });
  }

  /** The file's path when the run wrote anything, else null. */
  finish(): string | null {
    return this.#written ? this.file : null;
  }
}

function prefixLines(chunk: string | Uint8Array): string {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
  return text.replace(/^(?=.)/gm, "[stderr] ");
}
