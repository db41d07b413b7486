/**
 * Messages between the worker (parent) and a process-isolation child, sent over the IPC
 * channel of child_process.fork (JSON serialization). Arguments and return values travel
 * as tagged JSON (codec/tagged.ts), so both sides decode them exactly as the database would.
 */
import type { JsonValue } from "../codec/tagged.js";
import type { AbortCause } from "./control.js";

/** What the child is started with (passed as its only argv entry, JSON). */
export interface ChildInit {
  taskModules: string[];
  cwd: string;
}

export interface RunContextInit {
  resultId: string;
  attempt: number;
  taskName: string;
  queue: string;
  metadata: Record<string, JsonValue>;
}

export type ParentMessage =
  | { type: "run"; runId: string; taskName: string; args: JsonValue[]; context: RunContextInit }
  /** Best effort: the parent kills the child right after sending it. */
  | { type: "abort"; runId: string; cause: AbortCause; message: string }
  | { type: "metadataSaved"; requestId: number; ok: boolean; error?: string }
  /** Retire: finish nothing more, exit cleanly. */
  | { type: "exit" };

export interface RemoteError {
  /** Constructor name of what was thrown (typeof for non-errors), as the worker would record it. */
  class: string;
  /** The error's `name` (null for a thrown non-error). */
  name: string | null;
  message: string;
  stack: string | null;
  nonRetryable: boolean;
  /** False when the handler threw something that is not an Error (a string, ...). */
  isError: boolean;
  snoozeMs?: number;
  /** Set when the child could not run the handler at all: "unknown_task", "bad_return", ... */
  kind?: string;
}

export type LogLevel = "info" | "warn" | "error";

export type ChildMessage =
  | { type: "ready" }
  /** Importing the task modules failed; the child exits after sending this. */
  | { type: "fatal"; message: string; stack: string | null }
  | { type: "saveMetadata"; runId: string; requestId: number; metadata: Record<string, JsonValue> }
  | { type: "output"; runId: string; stream: "stdout" | "stderr"; chunk: string }
  | { type: "log"; runId: string; level: LogLevel; message: string; fields?: Record<string, JsonValue> }
  | {
      type: "done";
      runId: string;
      ok: true;
      value: JsonValue;
      metadata: Record<string, JsonValue>;
      rss: number;
    }
  | {
      type: "done";
      runId: string;
      ok: false;
      error: RemoteError;
      metadata: Record<string, JsonValue>;
      rss: number;
    };
