/**
 * A worker's start-up, before it claims anything: resolve its configuration, check it, import the
 * task modules, open its connection (db/connect.ts, role "worker"), check the schema, choose its
 * executor and its id. Everything here fails with a clear error and leaves nothing open.
 */
import { hostname } from "node:os";
import pino, { type Logger } from "pino";
import { isBuiltinTask } from "../builtins.js";
import { checkLeaseAndHeartbeat, loadConfig } from "../config/load.js";
import type { ReproqConfig } from "../config/schema.js";
import { type Connection, connect } from "../db/connect.js";
import { assertSchemaName } from "../db/names.js";
import { ConfigError } from "../errors.js";
import { registeredTasks } from "../registry.js";
import { currentSettings } from "../runtime.js";
import { assertSchemaCurrent } from "../sql/migrate.js";
import { importTaskModules } from "./discovery.js";
import { type Executor, InProcessExecutor } from "./executor.js";
import type { WorkerSurface } from "./surface.js";

export interface WorkerOptions {
  /** Settings that override configure(), config files and the environment for this worker. */
  config?: Partial<Record<keyof ReproqConfig, unknown>>;
  configPath?: string;
  cwd?: string;
  /**
   * Stop gracefully on SIGTERM/SIGINT (a second signal aborts at once) and when the parent process
   * goes away (a wrapper such as npx died). Default false in code, true in the CLI.
   */
  handleSignals?: boolean;
  /** A pino logger, or false for silence. Default: JSON lines on stderr at level info. */
  logger?: Logger | false;
  /** Use this executor instead of the one `isolation` selects. */
  executor?: Executor;
  /**
   * Started with the worker, closed once it stopped. runWorker() and the CLI attach the HTTP
   * endpoints (`metricsAddr`) this way; with Worker.start, pass `workerHttp` from the package.
   */
  surfaces?: readonly WorkerSurface[];
}

export interface WorkerSetup {
  id: string;
  config: ReproqConfig;
  connection: Connection;
  executor: Executor;
  log: Logger;
  handleSignals: boolean;
  /** Only the built-in tasks are registered (a forgotten --tasks). */
  onlyBuiltins: boolean;
  surfaces: readonly WorkerSurface[];
}

export const WORKER_NO_DATABASE =
  "no database configured: set DATABASE_URL, --dsn, or databaseUrl in the config";

let workersInProcess = 0;

export async function setUpWorker(options: WorkerOptions): Promise<WorkerSetup> {
  const settings = currentSettings();
  const { pool: appPool, configPath, cwd: settingsCwd, ...overrides } = settings;
  const cwd = options.cwd ?? settingsCwd ?? process.cwd();
  const resolved = await loadConfig({
    cwd,
    configPath: options.configPath ?? configPath,
    overrides: { ...overrides, ...(options.config as object) },
    overrideSource: "code",
  });
  const config = resolved.values;
  assertSchemaName(config.schema);
  const log =
    options.logger === false
      ? pino({ enabled: false })
      : (options.logger ?? pino({ base: { role: "worker" } }, pino.destination(2)));
  if (!config.databaseUrl && !appPool) throw new ConfigError(WORKER_NO_DATABASE);
  checkLeaseAndHeartbeat(resolved, cwd);
  if (config.tasks?.length) await importTaskModules(config.tasks, cwd);
  if (registeredTasks().length === 0) {
    throw new ConfigError(
      "no tasks are registered: pass --tasks (or set tasks in the config) or import your task modules before runWorker()",
    );
  }
  // Built-in tasks (reproq.noop, for stress tests) register whenever the library loads, so a
  // forgotten --tasks still starts a worker: the worker says so plainly rather than run nothing useful.
  const onlyBuiltins = registeredTasks().every((definition) => isBuiltinTask(definition.name));
  const connection = connect({ config, appPool, role: "worker", noDatabaseMessage: WORKER_NO_DATABASE });
  let executor: Executor;
  try {
    await assertSchemaCurrent(connection.pool, config.schema);
    executor = options.executor ?? (await makeExecutor(config, cwd));
  } catch (error) {
    await connection.close();
    throw error;
  }
  workersInProcess++;
  const id =
    config.workerId ?? `${hostname()}-${process.pid}${workersInProcess > 1 ? `-${workersInProcess}` : ""}`;
  return {
    id,
    config,
    connection,
    executor,
    log: log.child({ workerId: id }),
    handleSignals: options.handleSignals ?? false,
    onlyBuiltins,
    surfaces: options.surfaces ?? [],
  };
}

async function makeExecutor(config: ReproqConfig, cwd: string): Promise<Executor> {
  if (config.isolation === "in-process") return new InProcessExecutor();
  // Children resolve configuration on their own; hand them this worker's database so handlers can enqueue.
  const env: Record<string, string> = { REPROQ_SCHEMA: config.schema };
  if (config.databaseUrl) env.REPROQ_DATABASE_URL = config.databaseUrl;
  const options = {
    taskModules: config.tasks ?? [],
    cwd,
    maxRunsPerChild: config.maxRunsPerChild,
    maxMemoryMb: config.maxChildMemoryMb,
    env,
  };
  if (config.isolation === "thread") {
    const { ThreadExecutor } = await import("./thread-executor.js");
    return new ThreadExecutor(options);
  }
  const { ProcessExecutor } = await import("./process-executor.js");
  return new ProcessExecutor(options);
}
