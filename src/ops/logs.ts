/**
 * Reading a run's saved output (`reproq logs`). Workers started with logsDir write what a run
 * prints to a file on their own host and record its path in task_runs.logs_uri; this reads that
 * file back from the end, so a huge log costs only the bytes that are shown.
 */
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { InvalidInputError, ReproqError, TaskResultNotFoundError } from "../errors.js";
import type { RunIdInput } from "../ids.js";
import { selectLogsUri } from "../sql/logs.js";
import { resultIdIn } from "./run-id.js";

export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024;

export interface ReadLogsOptions {
  /** Only the last `tail` lines. */
  tail?: number;
  /** Read at most this many bytes from the end of the file (default 1 MiB). */
  maxBytes?: number;
}

export interface RunLogsText {
  id: string;
  /** The log file that was read. */
  path: string;
  /** Size of the whole file in bytes. */
  sizeBytes: number;
  /** What was read: whole lines, stderr lines prefixed with `[stderr] `. */
  text: string;
  /** True when maxBytes cut off output that would otherwise have been shown. */
  truncated: boolean;
}

export async function readRunLogs(
  db: Queryable,
  schema: string,
  id: RunIdInput,
  options: ReadLogsOptions = {},
): Promise<RunLogsText> {
  const resultId = resultIdIn(id);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
  assertCount("maxBytes", maxBytes);
  if (options.tail !== undefined) assertCount("tail", options.tail);
  let row: Awaited<ReturnType<typeof selectLogsUri>>;
  try {
    row = await selectLogsUri(db, schema, resultId);
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
  if (!row) throw new TaskResultNotFoundError(String(id));
  if (!row.logs_uri) {
    throw new ReproqError(
      "NOT_FOUND",
      `run ${String(id)} has no saved logs (run the worker with --logs-dir to keep them)`,
    );
  }
  const path = filePath(row.logs_uri);
  const { sizeBytes, text, cut } = await readEnd(path, maxBytes, String(id));
  if (options.tail === undefined) return { id: String(id), path, sizeBytes, text, truncated: cut };
  const { text: tailed, complete } = lastLines(text, options.tail);
  // Cut off by maxBytes only matters when the cut removed lines that --tail asked for.
  return { id: String(id), path, sizeBytes, text: tailed, truncated: cut && !complete };
}

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(`${name}: ${value} is not valid; give a positive integer`);
  }
}

/** logs_uri holds a plain path today; a file: URL is accepted too so the column can grow other schemes. */
function filePath(uri: string): string {
  if (uri.startsWith("file:")) return fileURLToPath(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new InvalidInputError(`logs are stored at ${uri}; only local files can be read here`);
  }
  return uri;
}

/** The last `maxBytes` of the file, starting at a line boundary when the start was cut off. */
async function readEnd(
  path: string,
  maxBytes: number,
  id: string,
): Promise<{ sizeBytes: number; text: string; cut: boolean }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ReproqError(
        "NOT_FOUND",
        `the log file of run ${id}, ${path}, does not exist (deleted, or on the host of the worker that ran it)`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    let text = buffer.subarray(0, filled).toString("utf8");
    if (start > 0) {
      // The first line is partial (and may start mid-character): drop it, unless it is all there is.
      const newline = text.indexOf("\n");
      if (newline !== -1 && newline < text.length - 1) text = text.slice(newline + 1);
    }
    return { sizeBytes: size, text, cut: start > 0 };
  } finally {
    await handle.close();
  }
}

/** The last `count` lines of `text`; `complete` is false when text had fewer lines than asked for. */
function lastLines(text: string, count: number): { text: string; complete: boolean } {
  const endsWithNewline = text.endsWith("\n");
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split("\n");
  if (text === "") return { text, complete: false };
  if (lines.length < count) return { text, complete: false };
  return { text: `${lines.slice(-count).join("\n")}${endsWithNewline ? "\n" : ""}`, complete: true };
}
