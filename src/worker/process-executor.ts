/**
 * `isolation: "process"`: every run executes in a child process (child.ts) that a timeout,
 * cancel, shutdown or lost lease kills with SIGKILL, so a handler that ignores its AbortSignal
 * or blocks its event loop is really stopped. Children are forked on demand, one per
 * concurrent run, kept for reuse, and retired after `maxRunsPerChild` runs or above
 * `maxMemoryMb` of RSS.
 *
 * The child script is the compiled `child.js` beside this module. When this module itself runs
 * from src/ (e.g. under a TypeScript test runner) there is no compiled child beside it, so the
 * build's `dist/worker/child.js` is used instead: build first (`npm test` does).
 *
 * On POSIX each child leads its own process group, so a kill also takes down processes the
 * handler spawned, and a terminal's Ctrl-C reaches only the worker, which shuts down gracefully.
 */
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { decodeValue, encodeArgs, type JsonValue } from "../codec/tagged.js";
import { ConfigError } from "../errors.js";
import type { ChildInit, ChildMessage, ParentMessage, RemoteError } from "./child-protocol.js";
import { type AbortCause, NonRetryableError, RunAborted, SnoozeSignal } from "./control.js";
import type { ExecutionRequest, ExecutionResult, Executor } from "./executor.js";
import { ThrownValue } from "./outcome.js";

export interface ProcessExecutorOptions {
  /** Globs of task modules, relative to cwd; each child imports them once at start. */
  taskModules: string[];
  cwd: string;
  /** A child is replaced after this many runs. */
  maxRunsPerChild: number;
  /** A child whose RSS is above this many MiB after a run is replaced. */
  maxMemoryMb: number;
  /** Node flags for the children; default: this process's flags without --inspect*. */
  execArgv?: string[];
  /** Extra environment for the children (e.g. the worker's database URL, so handlers can enqueue). */
  env?: Record<string, string>;
}

const GROUP_KILL = process.platform !== "win32";

/** Where the compiled child script is; see the header comment. */
export function childScriptPath(): string {
  const beside = fileURLToPath(new URL("./child.js", import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL("../../dist/worker/child.js", import.meta.url));
  if (existsSync(built)) return built;
  throw new ConfigError(
    `isolation "process" needs the compiled child script, but ${beside} does not exist; build the package first`,
  );
}

interface RunHooks {
  message(message: ChildMessage): void;
  exit(description: string): void;
}

/** One child process and what it is doing. */
class Child {
  readonly process: ChildProcess;
  /** Resolves when the child has imported the task modules. */
  readonly ready: Promise<void>;
  /** Resolves once the process is gone. */
  readonly exited: Promise<void>;
  runs = 0;
  #run: RunHooks | null = null;
  #output: ExecutionRequest["output"];
  #gone = false;

  constructor(script: string, init: ChildInit, execArgv: string[], env: Record<string, string>) {
    const proc = fork(script, [JSON.stringify(init)], {
      cwd: init.cwd,
      execArgv,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
      detached: GROUP_KILL,
    });
    this.process = proc;
    let markReady: () => void = () => {};
    let failReady: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    // A run attaches its own handler; this keeps a startup failure from being unhandled.
    this.ready.catch(() => {});
    let markExited: () => void = () => {};
    this.exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });

    for (const name of ["stdout", "stderr"] as const) {
      const stream = proc[name];
      if (!stream) continue;
      // Output written straight to the file descriptor (not through process.stdout) lands here.
      stream.on("data", (chunk: Buffer) => {
        process[name].write(chunk);
        this.#output?.write(name, chunk);
      });
      (stream as Socket).unref?.();
    }
    proc.on("message", (message: ChildMessage) => {
      if (message.type === "ready") markReady();
      else if (message.type === "fatal") {
        const error = new Error(`the task child process could not start: ${message.message}`);
        if (message.stack) error.stack = message.stack;
        failReady(error);
      } else this.#run?.message(message);
    });
    const onGone = (description: string) => {
      if (this.#gone) return;
      this.#gone = true;
      failReady(new Error(`the task child process exited before it was ready (${description})`));
      const run = this.#run;
      this.#run = null;
      run?.exit(description);
      markExited();
    };
    proc.on("error", (error) => {
      // Spawning failed: no "exit" will follow.
      if (proc.pid === undefined) onGone(`could not be started: ${error.message}`);
    });
    proc.on("exit", (code, signal) => {
      const description = signal ? `signal ${signal}` : `code ${code}`;
      // Messages sent just before the exit may still be in the channel; they come before "disconnect".
      if (!proc.connected) return onGone(description);
      const timer = setTimeout(() => onGone(description), 1000);
      timer.unref();
      proc.once("disconnect", () => {
        clearTimeout(timer);
        onGone(description);
      });
    });
    proc.unref();
    this.idle();
  }

  get alive(): boolean {
    return !this.#gone;
  }

  /** Routes messages and an unexpected exit to a run; keeps the parent alive meanwhile. */
  attach(hooks: RunHooks, output: ExecutionRequest["output"]): void {
    this.#run = hooks;
    this.#output = output;
    this.process.channel?.ref();
  }

  detach(): void {
    this.#run = null;
    this.#output = undefined;
  }

  /** An idle child does not keep the parent process alive. */
  idle(): void {
    this.process.channel?.unref();
  }

  send(message: ParentMessage): void {
    if (!this.process.connected) return;
    // Errors (the child just died) surface as its "exit"; nothing to do here.
    this.process.send(message, undefined, undefined, () => {});
  }

  kill(): void {
    if (this.#gone || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const pid = this.process.pid;
    if (GROUP_KILL && pid !== undefined) {
      try {
        process.kill(-pid, "SIGKILL");
        return;
      } catch {
        // Fall back to the child alone (e.g. the group is already gone).
      }
    }
    this.process.kill("SIGKILL");
  }
}

export class ProcessExecutor implements Executor {
  readonly kind = "process";
  #script: string;
  #init: ChildInit;
  #execArgv: string[];
  #env: Record<string, string>;
  #maxRuns: number;
  #maxRssBytes: number;
  #idle: Child[] = [];
  #children = new Set<Child>();
  #closed = false;

  constructor(options: ProcessExecutorOptions) {
    if (options.taskModules.length === 0) {
      // Children find tasks only by importing modules; tasks imported by the worker's own code are invisible to them.
      throw new ConfigError(
        'isolation "process" needs the tasks setting (--tasks): each child process imports those modules to find its tasks',
      );
    }
    this.#script = childScriptPath();
    this.#init = { taskModules: [...options.taskModules], cwd: options.cwd };
    this.#execArgv = options.execArgv ?? process.execArgv.filter((arg) => !/^--(inspect|debug)/.test(arg));
    this.#env = options.env ?? {};
    this.#maxRuns = options.maxRunsPerChild;
    this.#maxRssBytes = options.maxMemoryMb * 1024 * 1024;
  }

  /** Live children (idle, busy or retiring). */
  get size(): number {
    return this.#children.size;
  }

  execute(request: ExecutionRequest): Promise<ExecutionResult> {
    const { signal } = request;
    if (signal.aborted) return Promise.resolve({ ok: false, error: signal.reason });
    if (this.#closed)
      return Promise.resolve({ ok: false, error: new Error("the process executor is closed") });
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
              const retire = child.runs >= this.#maxRuns || message.rss > this.#maxRssBytes;
              finish(toResult(message), retire ? "retire" : "reuse");
            } else this.#onRunMessage(child, request, message);
          },
          exit: (description) =>
            finish(
              { ok: false, error: new Error(`child process exited with ${description} during the run`) },
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
  #onRunMessage(child: Child, request: ExecutionRequest, message: ChildMessage): void {
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

  #take(): Child {
    for (let child = this.#idle.pop(); child; child = this.#idle.pop()) {
      if (child.alive) return child;
    }
    const child = new Child(this.#script, this.#init, this.#execArgv, this.#env);
    this.#children.add(child);
    void child.exited.then(() => {
      this.#children.delete(child);
      this.#idle = this.#idle.filter((c) => c !== child);
    });
    return child;
  }

  #giveBack(child: Child): void {
    if (this.#closed || !child.alive) {
      child.kill();
      return;
    }
    child.idle();
    this.#idle.push(child);
  }

  /** Lets the child exit on its own after its run; a new one is forked on demand. */
  #retire(child: Child): void {
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
function replaceMetadata(target: Record<string, unknown>, source: Record<string, JsonValue>): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

function toResult(message: Extract<ChildMessage, { type: "done" }>): ExecutionResult {
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
