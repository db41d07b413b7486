/**
 * `isolation: "thread"`: every run executes in a worker thread (thread.ts) that a timeout,
 * cancel, shutdown or lost lease terminates, which stops even a handler that never yields (a
 * busy loop, a long synchronous computation). Cheaper than a child process to start and to talk
 * to; it shares the worker's process (environment, file descriptors, native state), so it
 * isolates time and heap, not crashes of native code or process.exit() (which ends the thread
 * only). What the process and thread executors share is in isolated-executor.ts.
 */
import { Worker as Thread } from "node:worker_threads";
import { ConfigError } from "../errors.js";
import type { ChildInit, ChildMessage, ParentMessage } from "./child-protocol.js";
import type { ExecutionRequest } from "./executor.js";
import { childLifecycle, type IsolatedChild, IsolatedExecutor, type RunHooks } from "./isolated-executor.js";
import { childScriptPath } from "./process-executor.js";

export interface ThreadExecutorOptions {
  /** Globs of task modules, relative to cwd; each thread imports them once at start. */
  taskModules: string[];
  cwd: string;
  /** A thread is replaced after this many runs. */
  maxRunsPerChild: number;
  /** A thread whose heap is above this many MiB after a run is replaced; at twice this it is stopped. */
  maxMemoryMb: number;
  /** Extra environment for the threads (e.g. the worker's database URL, so handlers can enqueue). */
  env?: Record<string, string>;
}

/** One worker thread and what it is doing. */
class ThreadHost implements IsolatedChild {
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  runs = 0;
  #thread: Thread;
  #run: RunHooks | null = null;
  #output: ExecutionRequest["output"];
  #gone = false;

  constructor(script: string, init: ChildInit, env: Record<string, string>, heapLimitMb: number) {
    const thread = new Thread(script, {
      workerData: init,
      env: { ...process.env, ...env },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb },
    });
    this.#thread = thread;
    const { ready, markReady, failReady, exited, markExited } = childLifecycle();
    this.ready = ready;
    this.exited = exited;
    for (const name of ["stdout", "stderr"] as const) {
      // Output written outside a run (or straight to the stream) arrives here.
      thread[name].on("data", (chunk: Buffer) => {
        process[name].write(chunk);
        this.#output?.write(name, chunk);
      });
    }
    thread.on("message", (message: ChildMessage) => {
      if (message.type === "ready") markReady();
      else if (message.type === "fatal") {
        const error = new Error(`the task thread could not start: ${message.message}`);
        if (message.stack) error.stack = message.stack;
        failReady(error);
      } else this.#run?.message(message);
    });
    let cause: string | null = null;
    thread.on("error", (error: Error & { code?: string }) => {
      cause =
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `its heap went past ${heapLimitMb} MiB`
          : `an uncaught error: ${error.message}`;
    });
    thread.on("exit", (code) => {
      if (this.#gone) return;
      this.#gone = true;
      const description = cause ? `code ${code} (${cause})` : `code ${code}`;
      failReady(new Error(`the task thread exited before it was ready (${description})`));
      const run = this.#run;
      this.#run = null;
      run?.exit(description);
      markExited();
    });
    this.idle();
  }

  get alive(): boolean {
    return !this.#gone;
  }

  attach(hooks: RunHooks, output: ExecutionRequest["output"]): void {
    this.#run = hooks;
    this.#output = output;
    this.#thread.ref();
  }

  detach(): void {
    this.#run = null;
    this.#output = undefined;
  }

  idle(): void {
    this.#thread.unref();
  }

  send(message: ParentMessage): void {
    if (!this.#gone) this.#thread.postMessage(message);
  }

  kill(): void {
    if (this.#gone) return;
    // terminate() stops the thread's JavaScript wherever it is, loops included; "exit" follows.
    void this.#thread.terminate();
  }
}

export class ThreadExecutor extends IsolatedExecutor {
  readonly kind = "thread";
  #script: string;
  #init: ChildInit;
  #env: Record<string, string>;
  #heapLimitMb: number;

  constructor(options: ThreadExecutorOptions) {
    super(options);
    if (options.taskModules.length === 0) {
      // Threads find tasks only by importing modules; tasks imported by the worker's own code are invisible to them.
      throw new ConfigError(
        'isolation "thread" needs the tasks setting (--tasks): each task thread imports those modules to find its tasks',
      );
    }
    this.#script = childScriptPath("thread", "thread");
    this.#init = { taskModules: [...options.taskModules], cwd: options.cwd };
    this.#env = options.env ?? {};
    this.#heapLimitMb = Math.max(64, options.maxMemoryMb * 2);
  }

  protected spawn(): IsolatedChild {
    return new ThreadHost(this.#script, this.#init, this.#env, this.#heapLimitMb);
  }
}
