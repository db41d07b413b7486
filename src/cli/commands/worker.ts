/**
 * `reproq worker`: runs a worker until SIGTERM/SIGINT (graceful: running tasks get
 * --shutdown-timeout to finish, then are aborted and released). Exit 0 on a clean stop.
 */
import type { Command } from "commander";
import type { ResolvedConfig } from "../../config/load.js";
import type { ConfigKey } from "../../config/schema.js";
import { Worker } from "../../worker/worker.js";
import { type GlobalOptions, requireDatabaseUrl, resolveCliConfig } from "../context.js";

export interface WorkerFlags {
  tasks?: string[];
  queues?: string;
  concurrency?: string;
  prefetch?: string;
  isolation?: string;
  allowedTaskModules?: string;
  logsDir?: string;
  shutdownTimeout?: string;
  leaseDuration?: string;
  heartbeatInterval?: string;
  pollInterval?: string;
  workerId?: string;
}

const EXAMPLES = `
Examples:
  $ reproq worker --tasks "dist/tasks/**/*.js"
  $ reproq worker --tasks dist/tasks/email.js --queues emails,default --concurrency 50
  $ reproq worker --tasks "dist/tasks/*.js" --queues "bulk-*" --isolation process --shutdown-timeout 2m
  $ WORKER_ID=web-1 reproq worker --allowed-task-modules emails.,reports.

Durations take a unit: 500ms, 30s, 10m, 2h.
`;

/** Flag (commander attribute) → setting, for flags that set configuration. */
export const WORKER_FLAG_SETTINGS: ReadonlyArray<[keyof WorkerFlags, ConfigKey, string]> = [
  ["queues", "queues", "--queues"],
  ["concurrency", "concurrency", "--concurrency"],
  ["prefetch", "prefetch", "--prefetch"],
  ["isolation", "isolation", "--isolation"],
  ["allowedTaskModules", "allowedTaskModules", "--allowed-task-modules"],
  ["logsDir", "logsDir", "--logs-dir"],
  ["shutdownTimeout", "shutdownTimeout", "--shutdown-timeout"],
  ["leaseDuration", "leaseDuration", "--lease-duration"],
  ["heartbeatInterval", "heartbeatInterval", "--heartbeat-interval"],
  ["pollInterval", "pollInterval", "--poll-interval"],
  ["workerId", "workerId", "--worker-id"],
];

/** Configuration with the given worker flags (and --tasks) as the highest-precedence layer. */
export function resolveWorkerConfig(
  opts: GlobalOptions & Partial<WorkerFlags>,
  settings: ReadonlyArray<readonly [keyof WorkerFlags, ConfigKey, string]>,
): Promise<ResolvedConfig> {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  const names: Partial<Record<ConfigKey, string>> = {};
  for (const [attr, key, name] of settings) {
    if (opts[attr] !== undefined) {
      flags[key] = opts[attr];
      names[key] = name;
    }
  }
  if (opts.tasks) {
    flags.tasks = opts.tasks.join(",");
    names.tasks = "--tasks";
  }
  return resolveCliConfig(opts, flags, names);
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("run a worker: claim and execute tasks until stopped")
    .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
    .option("--queues <list>", 'queues to serve, comma-separated, globs allowed (default "default")')
    .option("--concurrency <n>", "runs executed at once (default 10)")
    .option(
      "--prefetch <n>",
      "most runs claimed ahead of free slots when tasks finish fast; 0 = off (default 1000)",
    )
    .option(
      "--isolation <mode>",
      '"in-process" (default), "thread" (worker threads; timeouts terminate) or "process" (child processes; timeouts kill)',
    )
    .option(
      "--allowed-task-modules <list>",
      "task-name prefixes or globs this worker may run (default: all registered)",
    )
    .option("--logs-dir <dir>", "save each run's stdout/stderr to a file in this directory")
    .option("--shutdown-timeout <duration>", "grace period on SIGTERM/SIGINT (default 30s)")
    .option("--lease-duration <duration>", "claim lease without a heartbeat (default 60s)")
    .option("--heartbeat-interval <duration>", "lease renewal interval (default 10s)")
    .option("--poll-interval <duration>", "idle poll fallback; NOTIFY wakes the worker at once (default 2s)")
    .option("--worker-id <id>", "worker id (default $WORKER_ID or <hostname>-<pid>)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: WorkerFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & WorkerFlags>();
      const resolved = await resolveWorkerConfig(opts, WORKER_FLAG_SETTINGS);
      requireDatabaseUrl(resolved);
      const worker = await Worker.start({
        config: resolved.values,
        configPath: opts.config,
        handleSignals: true,
      });
      await worker.finished;
    });
}
