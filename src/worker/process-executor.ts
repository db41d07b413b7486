/**
 * `isolation: "process"`: every run executes in a child process (child.ts) that a timeout,
 * cancel, shutdown or lost lease kills with SIGKILL (isolated-executor.ts has what the process
 * and thread executors share). A child process has its own memory, environment and file
 * descriptors; a crash, a leak or process.exit() in a handler cannot touch the worker.
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
import { ConfigError } from "../errors.js";
import type { ChildInit, ChildMessage, ParentMessage } from "./child-protocol.js";
import type { ExecutionRequest } from "./executor.js";
import { childLifecycle, type IsolatedChild, IsolatedExecutor, type RunHooks } from "./isolated-executor.js";

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

/**
 * Where a compiled child script (child.js, thread.js) is: beside this module in the build, or in
 * dist/ when this module runs from src/ (see the header comment).
 */
export function childScriptPath(name = "child", isolation = "process"): string {
  const beside = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL(`../../dist/worker/${name}.js`, import.meta.url));
  if (existsSync(built)) return built;
  throw new ConfigError(
    `isolation "${isolation}" needs the compiled ${name} script, but ${beside} does not exist; build the package first`,
  );
}

/** One child process and what it is doing. */
class ChildProcessHost implements IsolatedChild {
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
    const { ready, markReady, failReady, exited, markExited } = childLifecycle();
    this.ready = ready;
    this.exited = exited;

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

export class ProcessExecutor extends IsolatedExecutor {
  readonly kind = "process";
  #script: string;
  #init: ChildInit;
  #execArgv: string[];
  #env: Record<string, string>;

  constructor(options: ProcessExecutorOptions) {
    super(options);
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
  }

  protected spawn(): IsolatedChild {
    return new ChildProcessHost(this.#script, this.#init, this.#execArgv, this.#env);
  }
}
