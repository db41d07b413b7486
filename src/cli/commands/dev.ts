/**
 * `reproq dev`: zero-setup development. Without a configured database it starts an embedded
 * PostgreSQL under .reproq/dev-pg; then it migrates, runs a worker in this process until
 * Ctrl-C, and (with --exec) runs a producer script next to it and exits with its status.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import path from "node:path";
import { checkLeaseAndHeartbeat } from "../../config/load.js";
import type { EmbeddedPostgres } from "../../db/embedded.js";
import { redactUrl } from "../../db/pool.js";
import { ConfigError, UsageError } from "../../errors.js";
import { workerHttp } from "../../http/surface.js";
import { applyMigrations } from "../../ops/migrate.js";
import { close, configure } from "../../runtime.js";
import { Worker } from "../../worker/worker.js";
import { type GlobalOptions, printLines, withPool } from "../context.js";
import { type CommandContext, defineCommand } from "../define.js";
import { cliLogger } from "../log.js";
import { LOG_OPTIONS, METRICS_OPTIONS, tasksOption, WORKER_OPTIONS } from "../options.js";

interface DevFlags {
  tasks?: string[];
  queues?: string;
  concurrency?: string;
  exec?: string;
}

/** Relative on purpose: it is where the user's project is, and it is what gets printed. */
const DATA_DIR = ".reproq/dev-pg";

const EXAMPLES = `
Examples:
  $ reproq dev --tasks src/tasks.mjs
  $ reproq dev --tasks "dist/tasks/*.js" --queues default,emails --concurrency 4
  $ reproq dev --tasks examples/quickstart/tasks.mjs --exec examples/quickstart/main.mjs
  $ DATABASE_URL=postgres://localhost/app reproq dev --tasks src/tasks.mjs

Without a database URL (--dsn, DATABASE_URL, the config) an embedded PostgreSQL is started with
its data in .reproq/dev-pg (add .reproq/ to .gitignore). --exec runs \`node <script>\` with
DATABASE_URL set once the worker is up, then stops and exits with the script's exit status.
`;

export const devCommand = defineCommand({
  name: "dev",
  description: "development: database (embedded if none is set), migrations and a worker in one process",
  options: [
    tasksOption(),
    WORKER_OPTIONS.queues,
    WORKER_OPTIONS.concurrency,
    METRICS_OPTIONS.metricsAddr,
    ...Object.values(LOG_OPTIONS),
    {
      flags: "--exec <script>",
      description: "run `node <script>` once the worker is up; exit with its status when it ends",
    },
  ],
  help: EXAMPLES,
  run: async (ctx: CommandContext<DevFlags>) => {
    process.exitCode = await dev(ctx);
  },
});

async function dev(ctx: CommandContext<DevFlags>): Promise<number> {
  const { flags } = ctx;
  const resolved = ctx.config;
  // Checked before anything is started, so a forgotten flag costs no server start-up.
  if (!resolved.values.tasks?.length) {
    throw new ConfigError("no task modules: pass --tasks FILE (or set tasks in the config)");
  }
  checkLeaseAndHeartbeat(resolved, ctx.cwd);
  const script = flags.exec === undefined ? undefined : checkScript(flags.exec);
  const schema = resolved.values.schema;

  let server: DevServer | undefined;
  try {
    let url = resolved.values.databaseUrl;
    if (url === undefined) {
      server = await DevServer.start();
      url = server.url;
      printLines(
        `Embedded PostgreSQL on port ${server.port} (data in ${DATA_DIR})${server.reused ? "; reused a server left running" : ""}`,
      );
    }
    const config = { ...resolved, values: { ...resolved.values, databaseUrl: url } };
    const migration = await withPool(config, (pool) => applyMigrations(pool, schema), { max: 2 });
    printLines(
      migration.applied?.length
        ? `Applied ${migration.applied.length} migration(s) to schema "${schema}" (now version ${migration.current})`
        : `Schema "${schema}" is up to date (version ${migration.current})`,
    );
    shareSettings(url, flags);

    const worker = await Worker.start({
      config: config.values,
      configPath: flags.config,
      handleSignals: true,
      surfaces: [workerHttp],
      // Pretty unless asked otherwise: dev runs in a terminal, whose scrollback already shows when.
      logger: cliLogger({
        role: "worker",
        level: config.values.logLevel,
        format: config.values.logFormat ?? "pretty",
        timestamps: false,
      }),
    });
    printLines(
      `Worker ${worker.id} serving ${config.values.queues.join(", ")} (concurrency ${config.values.concurrency}); Ctrl-C stops it`,
    );
    let status = 0;
    if (script === undefined) {
      // The embedded server's password is a fixed local one; a configured URL's is a real secret.
      const shown = server ? url : redactUrl(url);
      printLines(`Enqueue from another terminal: DATABASE_URL=${shown} node your-script.mjs`);
      await worker.finished;
    } else {
      status = await runScript(script, worker);
    }
    // Pools opened by tasks that enqueue, before the server goes away under them.
    await close();
    return status;
  } finally {
    await server?.stop();
  }
}

/** The script's path if it exists; a typo is reported before any server is started. */
function checkScript(script: string): string {
  if (!existsSync(script)) throw new UsageError(`--exec: ${script} does not exist`);
  return script;
}

/**
 * This process (tasks that enqueue other tasks) and its children (the --exec script, process
 * isolation) use the database, schema and config file that dev uses.
 */
function shareSettings(url: string, opts: GlobalOptions): void {
  configure({
    databaseUrl: url,
    ...(opts.schema === undefined ? {} : { schema: opts.schema }),
    ...(opts.config === undefined ? {} : { configPath: opts.config }),
  });
  process.env.DATABASE_URL = url;
  // REPROQ_DATABASE_URL beats DATABASE_URL; a stale one must not send children elsewhere.
  if (process.env.REPROQ_DATABASE_URL !== undefined) process.env.REPROQ_DATABASE_URL = url;
  if (opts.schema !== undefined) process.env.REPROQ_SCHEMA = opts.schema;
  if (opts.config !== undefined) process.env.REPROQ_CONFIG = path.resolve(opts.config);
}

/** Runs `node <script>` until it exits; returns its exit status (128 + n when killed by signal n). */
async function runScript(script: string, worker: Worker): Promise<number> {
  printLines(`Running node ${script}`);
  const child = spawn(process.execPath, [script], { stdio: "inherit" });
  const exited = new Promise<number>((resolve) => {
    child.once("error", () => resolve(1));
    child.once("exit", (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  });
  // A signal sent to this process alone (not to the terminal's whole group) stops the worker; pass it on.
  const stopped = worker.finished.then(() => stopChild(child));
  const status = await exited;
  await Promise.all([worker.stop(), stopped]);
  printLines(`${script} exited with status ${status}; worker stopped`);
  return status;
}

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
}

/**
 * The embedded server of a dev session. Ctrl-C in a terminal signals the server too (it shares
 * the terminal's process group) and it shuts down at once, while the worker is still stopping
 * gracefully and has outcomes to write. So while dev runs, a server that went away is started
 * again on the same port (its data is on disk; about a second), and the worker's retries land.
 */
class DevServer {
  #server: EmbeddedPostgres;
  #watching = true;
  #watcher: Promise<void>;

  private constructor(server: EmbeddedPostgres) {
    this.#server = server;
    this.#watcher = this.#watch();
  }

  static async start(): Promise<DevServer> {
    return new DevServer(await startEmbedded());
  }

  get url(): string {
    return this.#server.url;
  }

  get port(): number {
    return this.#server.port;
  }

  get reused(): boolean {
    return this.#server.reused;
  }

  async #watch(): Promise<void> {
    const pidFile = path.resolve(DATA_DIR, "postmaster.pid");
    while (this.#watching) {
      await new Promise((r) => setTimeout(r, 200).unref());
      if (!this.#watching || existsSync(pidFile)) continue;
      process.stderr.write(
        `[dev] PostgreSQL stopped; restarting it on port ${this.port} so the worker can finish\n`,
      );
      try {
        const server = await startEmbedded(this.port);
        this.#server = server;
        if (server.port !== this.port) throw new Error(`port ${this.port} is taken`);
      } catch (error) {
        process.stderr.write(`[dev] could not restart PostgreSQL: ${(error as Error).message}\n`);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.#watching = false;
    await this.#watcher;
    await stopEmbedded(this.#server);
  }
}

/** The worker owns SIGINT/SIGTERM here; startEmbeddedPostgres keeps the package from taking them. */
async function startEmbedded(port?: number): Promise<EmbeddedPostgres> {
  const { startEmbeddedPostgres } = await import("../../db/embedded.js");
  return startEmbeddedPostgres({ dataDir: DATA_DIR, port });
}

/**
 * A server that already shut itself down (Ctrl-C) never settles the package's stop(); the server
 * is gone once its postmaster.pid is, so stopping ends at whichever comes first.
 */
async function stopEmbedded(server: EmbeddedPostgres): Promise<void> {
  const pidFile = path.resolve(DATA_DIR, "postmaster.pid");
  const gone = (async () => {
    const deadline = Date.now() + 30_000;
    while (existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  })();
  await Promise.race([server.stop().catch(() => {}), gone]);
}
