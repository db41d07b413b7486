/**
 * The one place where configuration becomes connections: a pool for queries and a Listener for
 * LISTEN/NOTIFY. The backend, the worker, the CLI and the scheduler all open their database here.
 *
 * The rule for a pool the application supplies (configure({ pool })): it names the database, and
 * it wins over databaseUrl. A role that only borrows connections for short statements (the
 * producer side) uses that pool as it is and never ends it. A role that holds connections for its
 * whole life (a worker, the scheduler, a CLI command) opens a pool of its own with the same
 * connection settings, so it can size it and end it without touching the application's pool.
 */
import type pg from "pg";
import type { ReproqConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { Listener } from "./listener.js";
import { createPool, disablePreparedStatements } from "./pool.js";

export type ConnectionConfig = Pick<
  ReproqConfig,
  "databaseUrl" | "poolSize" | "applicationName" | "preparedStatements" | "connectTimeout"
>;

export interface ConnectOptions {
  config: ConnectionConfig;
  /** The application's own pool (configure({ pool })). */
  appPool?: pg.Pool;
  /** Use `appPool` itself rather than a pool of the same settings (the producer side). */
  shareAppPool?: boolean;
  /** Appended to application_name, e.g. "worker" gives "reproq:worker" in pg_stat_activity. */
  role?: string;
  /** Connections at most (never more than poolSize). */
  max?: number;
  /** The message when neither a URL nor a pool is configured; each surface names its own ways. */
  noDatabaseMessage?: string;
}

export interface Connection {
  readonly pool: pg.Pool;
  /** Whether close() ends the pool (false for a shared application pool). */
  readonly ownsPool: boolean;
  /** One LISTEN connection for this database, opened on its first subscribe. */
  readonly listener: Listener;
  /** Closes the listener and, when owned, the pool. Safe to call more than once. */
  close(): Promise<void>;
}

export const NO_DATABASE_MESSAGE =
  "no database configured: set DATABASE_URL (or REPROQ_DATABASE_URL), databaseUrl in a config file, or call configure({ databaseUrl })";

/** Throws the ConfigError for "no database" unless a URL or a pool is configured. */
export function assertDatabaseConfigured(
  options: Pick<ConnectOptions, "config" | "appPool" | "noDatabaseMessage">,
): void {
  if (!options.appPool && !options.config.databaseUrl) {
    throw new ConfigError(options.noDatabaseMessage ?? NO_DATABASE_MESSAGE);
  }
}

export function connect(options: ConnectOptions): Connection {
  assertDatabaseConfigured(options);
  const { config, appPool } = options;
  const applicationName = options.role ? `${config.applicationName}:${options.role}` : config.applicationName;
  const max = Math.min(options.max ?? config.poolSize, config.poolSize);
  let pool: pg.Pool;
  let ownsPool = true;
  if (appPool && options.shareAppPool) {
    pool = appPool;
    ownsPool = false;
    if (!config.preparedStatements) disablePreparedStatements(pool);
  } else {
    pool = createPool({
      url: appPool ? "" : (config.databaseUrl ?? ""),
      max,
      applicationName,
      preparedStatements: config.preparedStatements,
      connectTimeoutMs: config.connectTimeout,
    });
    // The application's connection settings (host, user, ssl ...), with this role's size and name.
    if (appPool) Object.assign(pool.options, appPool.options, { max, application_name: applicationName });
  }
  const listener = new Listener({
    url: appPool ? undefined : config.databaseUrl,
    clientConfig: appPool ? (appPool.options as pg.ClientConfig) : undefined,
    applicationName,
    connectTimeoutMs: config.connectTimeout,
  });
  let closing: Promise<void> | null = null;
  return {
    pool,
    ownsPool,
    listener,
    close: () => {
      closing ??= (async () => {
        await listener.close();
        if (ownsPool) await pool.end().catch(() => {});
      })();
      return closing;
    },
  };
}

/**
 * Runs `fn` with a connection and closes it however `fn` finishes, so an open pool never keeps a
 * process alive after a command. A failure to close never hides `fn`'s own error or result.
 */
export async function withConnection<T>(
  options: ConnectOptions,
  fn: (connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = connect(options);
  try {
    return await fn(connection);
  } finally {
    await connection.close().catch(() => {});
  }
}
