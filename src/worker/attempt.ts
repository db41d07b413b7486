/**
 * The life of one attempt, from a claimed row to the record the settler writes: what the worker
 * keeps about it while it runs, the request the executor gets, the TaskContext a handler sees, and
 * how its result becomes a settle record (success, or a classified failure).
 */
import { Buffer } from "node:buffer";
import type pg from "pg";
import type { Logger } from "pino";
import { decodeArgs, encodeValue, type JsonValue } from "../codec/tagged.js";
import type { TaskContext } from "../context.js";
import type { TaskDefinition } from "../definition.js";
import { type ClaimedRunRow, type Fence, type SettleRecord, saveRunMetadata } from "../sql/worker.js";
import { RunAborted } from "./control.js";
import type { ExecutionRequest, ExecutionResult, OutputSink } from "./executor.js";
import type { Classified } from "./outcome.js";
import { UnrunnableTask } from "./outcome.js";
import type { RunAbort } from "./run-abort.js";
import type { RunLogs } from "./run-logs.js";

/** What the worker keeps about a run while it executes. */
export interface InFlight {
  row: ClaimedRunRow;
  definition: TaskDefinition | undefined;
  abort: RunAbort;
  /** Made on first use (see taskContextOf). */
  context: TaskContext | null;
  /** The metadata as JSON when the context was made. */
  metadataBefore: string;
  startedAt: number;
  /** When its timeout falls (epoch ms); Infinity until the attempt starts executing. */
  deadlineAt: number;
  lost: boolean;
  logs: RunLogs | null;
}

/** What every write to a claimed run carries: its fence, and whether settling it locks key counters. */
export function settleRef(row: ClaimedRunRow): Fence & { keyed: boolean } {
  return { resultId: row.result_id, leaseToken: row.lease_token, keyed: row.keyed };
}

/**
 * What the executor gets for one attempt. A class, so starting a run makes one object and no
 * closures; the signal and the context are made only if the executor or the handler asks.
 */
export class AttemptRequest implements ExecutionRequest {
  readonly run: ClaimedRunRow;
  readonly definition: TaskDefinition;
  readonly args: unknown[];
  readonly output: OutputSink | undefined;
  #inflight: InFlight;
  #contextOf: (inflight: InFlight) => TaskContext;

  constructor(
    inflight: InFlight,
    definition: TaskDefinition,
    args: unknown[],
    contextOf: (inflight: InFlight) => TaskContext,
  ) {
    this.run = inflight.row;
    this.definition = definition;
    this.args = args;
    this.output = inflight.logs ?? undefined;
    this.#inflight = inflight;
    this.#contextOf = contextOf;
  }

  get signal(): AbortSignal {
    return this.#inflight.abort.signal;
  }

  onAbort(listener: (reason: unknown) => void): void {
    this.#inflight.abort.onAbort(listener);
  }

  get context(): TaskContext {
    return this.#contextOf(this.#inflight);
  }
}

/**
 * The run's TaskContext, made on first use: most handlers do not take a context, and a worker
 * starts thousands of runs a second, so the object, its closures and the metadata snapshot are
 * only made for runs that can see them.
 */
export function taskContextOf(
  inflight: InFlight,
  deps: { pool: pg.Pool; schema: string; log: Logger },
): TaskContext {
  if (inflight.context) return inflight.context;
  const { row, abort } = inflight;
  const fence = { resultId: row.result_id, leaseToken: row.lease_token };
  const metadata = { ...(row.metadata_json ?? {}) };
  // Most handlers never log: the child logger is made on first use, not for every run.
  let taskLogger: Logger | undefined;
  const taskLog = () => {
    taskLogger ??= deps.log.child({ resultId: row.result_id, task: row.task_path });
    return taskLogger;
  };
  const context: TaskContext = {
    resultId: row.result_id,
    attempt: row.attempts,
    taskName: row.task_path,
    queue: row.queue_name,
    metadata,
    saveMetadata: async () => {
      await saveRunMetadata(deps.pool, deps.schema, fence, JSON.stringify(context.metadata));
    },
    signal: abort.signal,
    log: {
      info: (message, fields) => taskLog().info(fields ?? {}, message),
      warn: (message, fields) => taskLog().warn(fields ?? {}, message),
      error: (message, fields) => taskLog().error(fields ?? {}, message),
    },
  };
  inflight.context = context;
  inflight.metadataBefore = JSON.stringify(metadata);
  return context;
}

/**
 * Whether this worker can run the attempt at all, and its decoded arguments: a task that is not
 * registered here, not allowed, or has a payload that does not decode fails without running.
 */
export function prepareAttempt(
  inflight: InFlight,
  allow: (taskName: string) => boolean,
): { args: unknown[] } | { unrunnable: UnrunnableTask } {
  const { row, definition } = inflight;
  if (!definition) {
    return {
      unrunnable: new UnrunnableTask(
        "unknown_task",
        `task "${row.task_path}" is not registered in this worker`,
      ),
    };
  }
  if (!allow(row.task_path)) {
    return {
      unrunnable: new UnrunnableTask(
        "not_allowed",
        `task "${row.task_path}" is not in this worker's allowedTaskModules`,
      ),
    };
  }
  try {
    return { args: decodeArgs(row.args as JsonValue) };
  } catch (error) {
    return { unrunnable: new UnrunnableTask("bad_payload", (error as Error).message) };
  }
}

/** Every successful attempt's outcome: one shared object. */
const SUCCESS = Object.freeze({ kind: "success" as const });

/** What `undefined` is stored as (a tagged value). */
const UNDEFINED_JSON = JSON.stringify(encodeValue(undefined));

/** A handler's return value as stored in return_json; null and undefined without the encoder. */
export function returnJsonOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return UNDEFINED_JSON;
  return JSON.stringify(encodeValue(value, "returnValue"));
}

/** A return value is a payload too: over maxPayloadBytes, the attempt fails instead of storing it. */
function checkReturnBytes(returnJson: string, maxPayloadBytes: number | undefined): void {
  if (maxPayloadBytes === undefined || returnJson.length <= maxPayloadBytes / 3) return;
  const bytes = Buffer.byteLength(returnJson, "utf8");
  if (bytes > maxPayloadBytes) {
    throw new Error(
      `return value is ${bytes} bytes, over the limit of ${maxPayloadBytes} (maxPayloadBytes); store large results elsewhere and return a reference such as an id, or raise maxPayloadBytes`,
    );
  }
}

/** How an attempt ended, with the record to write for it (none when the lease was lost). */
export type AttemptEnd =
  | { kind: "lost" }
  | { kind: "success"; settle: SettleRecord; returnValue: unknown }
  | { kind: "failure"; settle: SettleRecord; classified: Classified };

/** The settle record of a failed attempt, classified by `classify`. */
export function failureEnd(
  row: ClaimedRunRow,
  error: unknown,
  classify: (row: ClaimedRunRow, error: unknown) => Classified,
  metadataJson: string | null = null,
  logsUri: string | null = null,
): AttemptEnd & { kind: "failure" } {
  const classified = classify(row, error);
  const { outcome, record } = classified;
  return {
    kind: "failure",
    classified,
    settle: {
      ...settleRef(row),
      outcome,
      errorJson: record ? JSON.stringify(record) : null,
      lastError:
        record && (outcome.kind === "fail" || outcome.kind === "cancel")
          ? record.message.slice(0, 1024)
          : null,
      metadataJson,
      logsUri,
    },
  };
}

/**
 * Turns an attempt's execution result into what the worker settles and reports. A success that
 * arrives after the attempt's deadline is a timeout: a run is never SUCCESSFUL past its timeout.
 */
export function endAttempt(
  inflight: InFlight,
  result: ExecutionResult,
  classify: (row: ClaimedRunRow, error: unknown) => Classified,
  now = Date.now(),
  maxPayloadBytes?: number,
): AttemptEnd {
  const { row } = inflight;
  if (
    inflight.lost ||
    (!result.ok && result.error instanceof RunAborted && result.error.reason === "lease_lost")
  ) {
    return { kind: "lost" };
  }
  // No context was made: the handler could not have changed the metadata.
  const metadataNow = inflight.context ? JSON.stringify(inflight.context.metadata) : null;
  const metadataJson = metadataNow !== null && metadataNow !== inflight.metadataBefore ? metadataNow : null;
  const logsUri = inflight.logs?.finish() ?? null;
  if (!result.ok) return failureEnd(row, result.error, classify, metadataJson, logsUri);
  if (now > inflight.deadlineAt) {
    // Only a handler that kept the event loop busy can return after its timeout fired: the
    // timer could not run. Its result arrived too late to count.
    const took = ((now - inflight.startedAt) / 1000).toFixed(1);
    const overran = new RunAborted(
      "timeout",
      `returned after ${took} s, past its ${row.timeout_seconds} s timeout: it kept the event loop busy, so it could not be stopped in time (isolation "thread" or "process" stops such code at its timeout)`,
    );
    return failureEnd(row, overran, classify, metadataJson, logsUri);
  }
  let returnJson: string;
  try {
    returnJson = returnJsonOf(result.value);
    checkReturnBytes(returnJson, maxPayloadBytes);
  } catch (error) {
    return failureEnd(
      row,
      new UnrunnableTask("bad_return", (error as Error).message),
      classify,
      metadataJson,
      logsUri,
    );
  }
  return {
    kind: "success",
    returnValue: result.value,
    settle: {
      resultId: row.result_id,
      leaseToken: row.lease_token,
      keyed: row.keyed,
      outcome: SUCCESS,
      returnJson,
      metadataJson,
      logsUri,
    },
  };
}
