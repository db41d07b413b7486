/**
 * What runs tasks inside an isolated executor's child, a process (child.ts) or a worker thread
 * (thread.ts): it runs one task at a time for the parent, reports its outcome, relays its output,
 * log lines and metadata saves, and answers aborts. The entry script supplies the transport.
 *
 * Tasks are looked up in the registry of this copy of reproq, which is the one the task modules
 * register into when they import the package the worker runs from.
 */
import { Buffer } from "node:buffer";
import { decodeArgs, encodeValue, type JsonValue } from "../codec/tagged.js";
import type { TaskContext, TaskLogger } from "../context.js";
import { getTask } from "../registry.js";
import type { ChildInit, ChildMessage, LogLevel, ParentMessage, RemoteError } from "./child-protocol.js";
import { NonRetryableError, RunAborted, SnoozeSignal } from "./control.js";
import { importTaskModules } from "./discovery.js";
import { describeThrown } from "./outcome.js";

export interface ChildTransport {
  /** "child" or "thread", for messages. */
  name: string;
  /** Resolves once the message is handed to the channel (or at once when the parent is gone). */
  send(message: ChildMessage): Promise<void>;
  exit(code: number): void;
  /** The memory figure the parent retires children by (RSS of a process, heap of a thread). */
  memory(): number;
}

let transport: ChildTransport = {
  name: "child",
  send: () => Promise.resolve(),
  exit: (code) => process.exit(code),
  memory: () => process.memoryUsage.rss(),
};

export function useTransport(chosen: ChildTransport): void {
  transport = chosen;
}

export function send(message: ChildMessage): Promise<void> {
  return transport.send(message);
}

interface ActiveRun {
  runId: string;
  controller: AbortController;
  context: TaskContext;
  /** Set once "done" is sent, so a crash after it does not report the run twice. */
  reported: boolean;
}

let active: ActiveRun | null = null;
let nextRequestId = 1;
const pendingSaves = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

/** A thrown value as the worker would record it (see outcome.ts). */
function describeError(error: unknown, kind?: string): RemoteError {
  if (!(error instanceof Error)) {
    const thrown = describeThrown(error);
    return {
      class: thrown.class ?? typeof error,
      name: null,
      message: thrown.message,
      stack: null,
      nonRetryable: false,
      isError: false,
    };
  }
  const described: RemoteError = {
    class: error.constructor?.name || error.name,
    name: error.name,
    message: error.message,
    stack: error.stack ?? null,
    // The name check covers a second copy of reproq in the task modules' dependency tree.
    nonRetryable:
      kind !== undefined || error instanceof NonRetryableError || error.name === "NonRetryableError",
    isError: true,
  };
  if (error instanceof SnoozeSignal) described.snoozeMs = error.delayMs;
  if (kind !== undefined) described.kind = kind;
  return described;
}

/** A failure of the run itself rather than of the handler; never retried. */
function unrunnable(kind: string, message: string): RemoteError {
  return {
    class: "UnrunnableTask",
    name: "UnrunnableTask",
    message,
    stack: null,
    nonRetryable: true,
    isError: true,
    kind,
  };
}

/** JSON round trip: what crosses IPC and what the worker stores (Dates become strings, ...). */
function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value) ?? "null") as JsonValue;
}

function metadataJson(metadata: unknown): Record<string, JsonValue> {
  const json = toJson(metadata);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError("ctx.metadata must be a plain object");
  }
  return json;
}

function saveMetadata(runId: string, metadata: unknown): Promise<void> {
  // Throws (rejecting the promise) on unserializable metadata, like the in-process executor.
  const json = metadataJson(metadata);
  const requestId = nextRequestId++;
  return new Promise<void>((resolve, reject) => {
    pendingSaves.set(requestId, { resolve, reject });
    void send({ type: "saveMetadata", runId, requestId, metadata: json });
  });
}

function makeLogger(runId: string): TaskLogger {
  const log = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    let json: Record<string, JsonValue> | undefined;
    try {
      json = fields === undefined ? undefined : metadataJson(fields);
    } catch {
      json = { fields: "[not serializable]" };
    }
    void send({ type: "log", runId, level, message: String(message), fields: json });
  };
  return { info: log("info"), warn: log("warn"), error: log("error") };
}

async function report(
  run: ActiveRun,
  outcome: { ok: true; value: JsonValue } | { ok: false; error: RemoteError },
) {
  if (run.reported) return;
  run.reported = true;
  if (active === run) active = null;
  let metadata: Record<string, JsonValue>;
  try {
    metadata = metadataJson(run.context.metadata);
  } catch (error) {
    metadata = {};
    const message = `ctx.metadata could not be stored: ${(error as Error)?.message ?? String(error)}`;
    outcome = { ok: false, error: unrunnable("bad_metadata", message) };
  }
  await send(
    outcome.ok
      ? { type: "done", runId: run.runId, ok: true, value: outcome.value, metadata, rss: transport.memory() }
      : {
          type: "done",
          runId: run.runId,
          ok: false,
          error: outcome.error,
          metadata,
          rss: transport.memory(),
        },
  );
}

async function runTask(message: Extract<ParentMessage, { type: "run" }>): Promise<void> {
  const { runId, context: init } = message;
  const controller = new AbortController();
  const context: TaskContext = {
    resultId: init.resultId,
    attempt: init.attempt,
    taskName: init.taskName,
    queue: init.queue,
    metadata: { ...init.metadata },
    saveMetadata: () => saveMetadata(runId, context.metadata),
    signal: controller.signal,
    log: makeLogger(runId),
  };
  const run: ActiveRun = { runId, controller, context, reported: false };
  active = run;

  const definition = getTask(message.taskName);
  if (!definition) {
    const text = `task "${message.taskName}" is not registered in the child process; the worker's task modules must register it when imported (and import the same copy of reproq the worker runs from)`;
    return report(run, { ok: false, error: unrunnable("unknown_task", text) });
  }
  let args: unknown[];
  try {
    args = decodeArgs(message.args);
  } catch (error) {
    return report(run, { ok: false, error: unrunnable("bad_payload", (error as Error).message) });
  }
  let value: unknown;
  try {
    // The handler's declared shape is (...args) or (ctx, ...args); the definition says which.
    const handler = definition.handler as (...params: unknown[]) => unknown;
    value = await (definition.takesContext ? handler(context, ...args) : handler(...args));
  } catch (error) {
    return report(run, { ok: false, error: describeError(error) });
  }
  let encoded: JsonValue;
  try {
    encoded = encodeValue(value, "returnValue");
  } catch (error) {
    return report(run, { ok: false, error: unrunnable("bad_return", (error as Error).message) });
  }
  return report(run, { ok: true, value: encoded });
}

/** While a run is active, stdout/stderr writes go to the parent as messages so they stay ordered with "done". */
export function captureOutput(): void {
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    // Node's write has several overloads: (chunk, encoding?, callback?) or (chunk, callback?).
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const run = active;
      if (!run) return original(chunk, ...rest);
      const encoding = typeof rest[0] === "string" ? (rest[0] as BufferEncoding) : undefined;
      const callback = rest.find((r): r is (error?: Error | null) => void => typeof r === "function");
      const text =
        typeof chunk === "string"
          ? encoding && encoding !== "utf8" && encoding !== "utf-8"
            ? Buffer.from(chunk, encoding).toString("utf8")
            : chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
      void send({ type: "output", runId: run.runId, stream: name, chunk: text }).then(() => callback?.());
      return true;
    }) as typeof stream.write;
  }
}

export function onMessage(message: ParentMessage): void {
  switch (message.type) {
    case "run":
      void runTask(message);
      return;
    case "abort":
      if (active?.runId === message.runId) {
        active.controller.abort(new RunAborted(message.cause, message.message));
      }
      return;
    case "metadataSaved": {
      const pending = pendingSaves.get(message.requestId);
      pendingSaves.delete(message.requestId);
      if (message.ok) pending?.resolve();
      else pending?.reject(new Error(message.error ?? "saving metadata failed"));
      return;
    }
    case "exit":
      transport.exit(0);
  }
}

/** An error no handler caught: fail the current run with it, then exit (the parent starts a new one). */
export function crash(error: unknown): void {
  console.error(`reproq ${transport.name}: uncaught error:`, error);
  const run = active;
  if (run && !run.reported)
    void report(run, { ok: false, error: describeError(error) }).then(() => transport.exit(1));
  else transport.exit(1);
}

/** Imports the task modules and tells the parent "ready", or why it could not, then exits. */
export async function startUp(init: ChildInit): Promise<void> {
  try {
    await importTaskModules(init.taskModules, init.cwd);
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    await send({ type: "fatal", message: err.message, stack: err.stack ?? null });
    transport.exit(1);
    return;
  }
  await send({ type: "ready" });
}
