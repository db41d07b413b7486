/**
 * Executors run one attempt of a task. The in-process executor calls the handler in the
 * worker's event loop; a timeout or cancel aborts the handler's signal and settles the
 * attempt at once even if the handler ignores the signal. (Process isolation lives in
 * process-executor.ts and kills the child instead.)
 */
import type { TaskContext } from "../context.js";
import type { TaskDefinition } from "../definition.js";
import type { ClaimedRunRow } from "../sql/worker.js";
import { type OutputSink, runWithOutput } from "./output-capture.js";

export type { OutputSink } from "./output-capture.js";

export interface ExecutionRequest {
  run: ClaimedRunRow;
  definition: TaskDefinition;
  /** Decoded arguments. */
  args: unknown[];
  /** Fires on timeout, cancel, lease loss or shutdown; `signal.reason` is a RunAborted. */
  readonly signal: AbortSignal;
  /**
   * Calls `listener` once with the abort reason (a RunAborted) when the run is aborted, at once
   * if it already was. The same event as `signal`'s, without making an AbortSignal for the run.
   */
  onAbort(listener: (reason: unknown) => void): void;
  /** The context handed to takesContext handlers; its metadata is read back after the run. */
  context: TaskContext;
  /** Receives what the run writes to stdout/stderr, when logs are kept. */
  output?: OutputSink;
}

export type ExecutionResult = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface Executor {
  readonly kind: "in-process" | "process" | "thread";
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
  close(): Promise<void>;
}

export class InProcessExecutor implements Executor {
  readonly kind = "in-process";

  execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const { definition, args } = request;
    return new Promise<ExecutionResult>((resolve) => {
      // Whichever comes first, the abort or the handler's result, settles the attempt; the promise
      // ignores the other.
      let aborted = false;
      request.onAbort((reason) => {
        aborted = true;
        resolve({ ok: false, error: reason });
      });
      if (aborted) return;
      // The handler's declared shape is (...args) or (ctx, ...args); the definition says which.
      const handler = definition.handler as (...params: unknown[]) => unknown;
      const call = () => (definition.takesContext ? handler(request.context, ...args) : handler(...args));
      let value: unknown;
      try {
        value = request.output ? runWithOutput(request.output, async () => call()) : call();
      } catch (error) {
        resolve({ ok: false, error });
        return;
      }
      Promise.resolve(value).then(
        (result) => resolve({ ok: true, value: result }),
        (error: unknown) => resolve({ ok: false, error }),
      );
    });
  }

  async close(): Promise<void> {}
}
