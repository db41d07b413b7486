/**
 * What the isolated executors share (`isolation: "process"` and `"thread"`): every run executes
 * in a child (a process or a worker thread) that a timeout, cancel, shutdown or lost lease kills,
 * so a handler that ignores its AbortSignal or blocks its event loop is really stopped. Children
 * start on demand, one per concurrent run, are kept for reuse, and retire after
 * `maxRunsPerChild` runs or above `maxChildMemoryMb` (RSS of a process, heap of a thread).
 * The two kinds differ only in how a child starts, talks and dies (IsolatedChild).
 */
import { decodeValue, encodeArgs, type JsonValue } from "../codec/tagged.js";
import type { ChildMessage, ParentMessage, RemoteError } from "./child-protocol.js";
import { type AbortCause, NonRetryableError, RunAborted, SnoozeSignal } from "./control.js";
import type { ExecutionRequest, ExecutionResult, Executor } from "./executor.js";
import { ThrownValue } from "./outcome.js";

export interface RunHooks {
  message(message: ChildMessage): void;
  exit(description: string): void;
}

/** The two promises every child has (ready, exited) and the functions that settle them. */
export function childLifecycle(): {
  ready: Promise<void>;
  markReady: () => void;
  failReady: (error: Error) => void;
  exited: Promise<void>;
  markExited: () => void;
} {
  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  // A run attaches its own handler; this keeps a startup failure from being unhandled.
  ready.catch(() => {});
  let markExited: () => void = () => {};
  const exited = new Promise<void>((resolve) => {
    markExited = resolve;
  });
  return { ready, markReady, failReady, exited, markExited };
}

/** One child (process or thread) and what it is doing. */
export interface IsolatedChild {
  /** Resolves when the child has imported the task modules. */
  readonly ready: Promise<void>;
  /** Resolves once the child is gone. */
  readonly exited: Promise<void>;
  runs: number;
  readonly alive: boolean;
  /** Routes messages and an unexpected exit to a run; keeps the worker's process alive meanwhile. */
  attach(hooks: RunHooks, output: ExecutionRequest["output"]): void;
  detach(): void;
  /** An idle child does not keep the worker's process alive. */
  idle(): void;
  send(message: ParentMessage): void;
  /** Stops it now, whatever it is doing. */
  kill(): void;
}

export abstract class IsolatedExecutor implements Executor {
  abstract readonly kind: "process" | "thread";
  #maxRuns: number;
  #maxMemoryBytes: number;
  #idle: IsolatedChild[] = [];
  #children = new Set<IsolatedChild>();
  #closed = false;

  constructor(limits: { maxRunsPerChild: number; maxMemoryMb: number }) {
    this.#maxRuns = limits.maxRunsPerChild;
    this.#maxMemoryBytes = limits.maxMemoryMb * 1024 * 1024;
  }

  /** Starts a new child that imports the task modules and then says "ready". */
  protected abstract spawn(): IsolatedChild;

  get #childName(): string {
    return this.kind === "process" ? "child process" : "task thread";
  }

  /** Live children (idle, busy or retiring). */
  get size(): number {
    return this.#children.size;
  }

  execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const { signal } = request;
    if (signal.aborted) return Promise.resolve({ ok: false, error: signal.reason });
    if (this.#closed)
      return Promise.resolve({ ok: false, error: new Error(`the ${this.kind} executor is closed`) });
    let args: JsonValue[];
    try {
      args = encodeArgs(request.args);
    } catch (error) {
      return Promise.resolve({ ok: false, error });
    }
    const child = this.#take();
    const runId = request.run.result_id;

    return new Promise<ExecutionResult>((resolve) => {
      let settled = false;
      /** `then`: what becomes of the child once the run is settled. */
      const finish = (result: ExecutionResult, then: "reuse" | "retire" | "kill") => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        child.detach();
        if (then === "reuse") this.#giveBack(child);
        else if (then === "retire") this.#retire(child);
        else child.kill();
        resolve(result);
      };
      const onAbort = () => {
        const reason: unknown = signal.reason;
        if (reason instanceof RunAborted) {
          child.send({ type: "abort", runId, cause: reason.cause as AbortCause, message: reason.message });
        }
        finish({ ok: false, error: reason }, "kill");
      };
      signal.addEventListener("abort", onAbort, { once: true });

      child.attach(
        {
          message: (message) => {
            if (settled) return;
            if (message.type === "done") {
              replaceMetadata(request.context.metadata, message.metadata);
              child.runs++;
              const retire = child.runs >= this.#maxRuns || message.rss > this.#maxMemoryBytes;
              finish(toResult(message), retire ? "retire" : "reuse");
            } else this.#onRunMessage(child, request, message);
          },
          exit: (description) =>
            finish(
              { ok: false, error: new Error(`${this.#childName} exited with ${description} during the run`) },
              "kill",
            ),
        },
        request.output,
      );
      child.ready.then(
        () => {
          if (settled) return;
          const { context } = request;
          child.send({
            type: "run",
            runId,
            taskName: request.definition.name,
            args,
            context: {
              resultId: context.resultId,
              attempt: context.attempt,
              taskName: context.taskName,
              queue: context.queue,
              metadata: JSON.parse(JSON.stringify(context.metadata)) as Record<string, JsonValue>,
            },
          });
        },
        (error: unknown) => finish({ ok: false, error }, "kill"),
      );
    });
  }

  /** Messages a run sends before it is done: output, log lines, metadata saves. */
  #onRunMessage(child: IsolatedChild, request: ExecutionRequest, message: ChildMessage): void {
    switch (message.type) {
      case "output":
        process[message.stream].write(message.chunk);
        request.output?.write(message.stream, message.chunk);
        return;
      case "log":
        request.context.log[message.level](message.message, message.fields);
        return;
      case "saveMetadata": {
        const { requestId } = message;
        replaceMetadata(request.context.metadata, message.metadata);
        request.context.saveMetadata().then(
          () => child.send({ type: "metadataSaved", requestId, ok: true }),
          (error: unknown) =>
            child.send({
              type: "metadataSaved",
              requestId,
              ok: false,
              error: error instanceof Error ? error.message : String(error),
            }),
        );
        return;
      }
    }
  }

  #take(): IsolatedChild {
    for (let child = this.#idle.pop(); child; child = this.#idle.pop()) {
      if (child.alive) return child;
    }
    const child = this.spawn();
    this.#children.add(child);
    void child.exited.then(() => {
      this.#children.delete(child);
      this.#idle = this.#idle.filter((c) => c !== child);
    });
    return child;
  }

  #giveBack(child: IsolatedChild): void {
    if (this.#closed || !child.alive) {
      child.kill();
      return;
    }
    child.idle();
    this.#idle.push(child);
  }

  /** Lets the child exit on its own after its run; a new one is forked on demand. */
  #retire(child: IsolatedChild): void {
    this.#idle = this.#idle.filter((c) => c !== child);
    child.send({ type: "exit" });
    // A child that does not exit promptly (stuck in a finalizer, ...) is killed.
    const timer = setTimeout(() => child.kill(), 5000);
    timer.unref();
    void child.exited.then(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#idle = [];
    const children = [...this.#children];
    for (const child of children) child.kill();
    await Promise.all(children.map((child) => child.exited));
  }
}

/** Clears and refills the context's metadata object, keeping its identity. */
export function replaceMetadata(target: Record<string, unknown>, source: Record<string, JsonValue>): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

export function toResult(message: Extract<ChildMessage, { type: "done" }>): ExecutionResult {
  if (!message.ok) return { ok: false, error: rebuildError(message.error) };
  try {
    return { ok: true, value: decodeValue(message.value, "returnValue") };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Turns a child's error back into something the worker classifies as it would have in-process:
 * the recorded class is the constructor's name, so the rebuilt error gets a class of that name.
 */
export function rebuildError(remote: RemoteError): unknown {
  if (remote.snoozeMs !== undefined) return new SnoozeSignal(remote.snoozeMs);
  // A thrown string (or other non-error) is recorded as it printed in the child.
  if (!remote.isError)
    return remote.class === "string" ? remote.message : new ThrownValue(remote.class, remote.message);
  const base = remote.nonRetryable ? NonRetryableError : Error;
  let Class: new (message: string) => Error = base;
  if (remote.class && remote.class !== base.name) {
    Class = remote.nonRetryable ? class extends NonRetryableError {} : class extends Error {};
    Object.defineProperty(Class, "name", { value: remote.class });
  }
  const error = new Class(remote.message);
  if (remote.name) error.name = remote.name;
  // No child stack means the failure was the run's, not the handler's: a parent stack would mislead.
  Object.defineProperty(error, "stack", {
    value: remote.stack ?? undefined,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  if (remote.kind) Object.defineProperty(error, "kind", { value: remote.kind, enumerable: true });
  return error;
}
