/**
 * Executors run one attempt of a task. The in-process executor calls the handler in the
 * worker's event loop; a timeout or cancel aborts the handler's signal and settles the
 * attempt at once even if the handler ignores the signal. (Process isolation lives in
 * process-executor.ts and kills the child instead.)
 */
import type { TaskContext } from "../context.js";
import type { ClaimedRunRow } from "../sql/worker.js";
import type { TaskDefinition } from "../task.js";
import { runWithOutput } from "./output-capture.js";

export interface OutputSink {
  write(stream: "stdout" | "stderr", chunk: string | Uint8Array): void;
}

export interface ExecutionRequest {
  run: ClaimedRunRow;
  definition: TaskDefinition;
  /** Decoded arguments. */
  args: unknown[];
  /** Fires on timeout, cancel, lease loss or shutdown; `signal.reason` is a RunAborted. */
  signal: AbortSignal;
  /** The context handed to takesContext handlers; its metadata is read back after the run. */
  context: TaskContext;
  /** Receives what the run writes to stdout/stderr, when logs are kept. */
  output?: OutputSink;
}

export type ExecutionResult = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface Executor {
  readonly kind: "in-process" | "process";
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
  close(): Promise<void>;
}

export class InProcessExecutor implements Executor {
  readonly kind = "in-process";

  execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const { definition, args, signal, context } = request;
    return new Promise<ExecutionResult>((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, error: signal.reason });
        return;
      }
      const onAbort = () => resolve({ ok: false, error: signal.reason });
      signal.addEventListener("abort", onAbort, { once: true });
      // The handler's declared shape is (...args) or (ctx, ...args); the definition says which.
      const handler = definition.handler as (...params: unknown[]) => unknown;
      const call = () => (definition.takesContext ? handler(context, ...args) : handler(...args));
      runWithOutput(request.output, async () => call()).then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve({ ok: true, value });
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          resolve({ ok: false, error });
        },
      );
    });
  }

  async close(): Promise<void> {}
}
