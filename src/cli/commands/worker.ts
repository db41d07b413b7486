/**
 * `reproq worker`: runs a worker until SIGTERM/SIGINT (graceful: running tasks get
 * --shutdown-timeout to finish, then are aborted and released). Exit 0 on a clean stop.
 */
import { checkLeaseAndHeartbeat } from "../../config/load.js";
import { workerHttp } from "../../http/surface.js";
import { Worker } from "../../worker/worker.js";
import { requireDatabaseUrl } from "../context.js";
import { defineCommand } from "../define.js";
import { cliLogger } from "../log.js";
import { LOG_OPTIONS, METRICS_OPTIONS, tasksOption, WORKER_OPTIONS } from "../options.js";

const EXAMPLES = `
Examples:
  $ reproq worker --tasks "dist/tasks/**/*.js"
  $ reproq worker --tasks dist/tasks/email.js --queues emails,default --concurrency 50
  $ reproq worker --tasks "dist/tasks/*.js" --queues "bulk-*" --isolation process --shutdown-timeout 2m
  $ WORKER_ID=web-1 reproq worker --allowed-task-modules emails.,reports.
  $ reproq worker --tasks "dist/tasks/*.js" --log-format json --log-level warn
  $ METRICS_AUTH_TOKEN=s3cret reproq worker --tasks "dist/tasks/*.js" --metrics-addr 0.0.0.0:9464

Durations take a unit: 500ms, 30s, 10m, 2h.
`;

export const workerCommand = defineCommand({
  name: "worker",
  description: "run a worker: claim and execute tasks until stopped",
  options: [
    tasksOption(),
    ...Object.values(WORKER_OPTIONS),
    ...Object.values(METRICS_OPTIONS),
    ...Object.values(LOG_OPTIONS),
  ],
  help: EXAMPLES,
  run: async (ctx) => {
    requireDatabaseUrl(ctx.config);
    // Here the sources are still the flags and files themselves (the worker sees them as code).
    checkLeaseAndHeartbeat(ctx.config, ctx.cwd);
    // The worker opens its own connections (db/connect.ts) and handles its signals.
    const { logLevel, logFormat } = ctx.config.values;
    const worker = await Worker.start({
      config: ctx.config.values,
      configPath: ctx.flags.config,
      handleSignals: true,
      surfaces: [workerHttp],
      logger: cliLogger({ role: "worker", level: logLevel, format: logFormat }),
    });
    await worker.finished;
  },
});
