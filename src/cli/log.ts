/**
 * The CLI's log lines on stderr: JSON objects (one per line, for collectors) or a pretty line
 * for people (`14:03:07.412 INFO  worker  run succeeded  id=42 task=emails.send ...`). Pretty
 * is the default on a terminal. A small formatter rather than a transport library: the records
 * are flat, and a synchronous write keeps each line whole and ordered with the worker's exit.
 *
 * Lines are written to file descriptor 2 directly, never through process.stderr.write, so a
 * task's captured output (its run log) never contains the worker's own lines.
 */
import { writeSync } from "node:fs";
import pino, { type Level, type Logger } from "pino";

export type LogFormat = "pretty" | "json";

export interface CliLogOptions {
  /** Shown on every line ("worker", "beat"). */
  role: string;
  level?: Level | "silent";
  /** Default: pretty when stderr is a terminal. */
  format?: LogFormat;
  /** Pretty lines without the time (for `reproq dev`, whose terminal already shows the moment). */
  timestamps?: boolean;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};

/** Writes to stderr's file descriptor, whole lines at once. */
function writeStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // stderr closed (the terminal went away): nothing to report to.
  }
}

export function defaultLogFormat(): LogFormat {
  return process.stderr.isTTY ? "pretty" : "json";
}

export function cliLogger(options: CliLogOptions): Logger {
  const format = options.format ?? defaultLogFormat();
  const level = options.level ?? "info";
  if (format === "json") {
    return pino({ level, base: { role: options.role } }, { write: (line: string) => writeStderr(line) });
  }
  const timestamps = options.timestamps ?? true;
  return pino(
    { level, base: undefined, timestamp: timestamps ? pino.stdTimeFunctions.epochTime : false },
    { write: (line: string) => writeStderr(prettyLine(line, options.role)) },
  );
}

function scalar(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** One JSON record as a pretty line: time, level, role, message, then the fields as key=value. */
export function prettyLine(json: string, role: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const { level, time, msg, workerId: _workerId, err, ...fields } = entry;
  const parts: string[] = [];
  if (typeof time === "number") parts.push(new Date(time).toISOString().slice(11, 23));
  parts.push(LEVEL_NAMES[level as number] ?? "INFO ", role.padEnd(6));
  parts.push(String(msg ?? ""));
  const extras = Object.entries(fields).map(([key, value]) => `${key}=${scalar(value)}`);
  if (err !== undefined) {
    const error = err as { message?: unknown; stack?: unknown } | string;
    extras.push(`err=${scalar(typeof error === "string" ? error : (error.message ?? error))}`);
  }
  return `${parts.join(" ")}${extras.length ? `  ${extras.join(" ")}` : ""}\n`;
}
