/**
 * Connection pools and the mapping of driver errors to Reproq's typed errors.
 * The database alias is carried alongside the pool so that a later multi-database
 * router can hold one pool per alias without changing the callers.
 */
import pg from "pg";
import { ConnectionError, ReproqError, SchemaError } from "../errors.js";

/** Anything that can run a query: a pool, a pooled client or a plain client (e.g. inside the caller's transaction). */
export type Queryable = Pick<pg.ClientBase, "query">;

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  /** Named prepared statements on this pool's connections (the preparedStatements setting); default true. */
  preparedStatements?: boolean;
  /** How long opening a connection may take (the connectTimeout setting); default 10 s. */
  connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Where a failed connection was going, by error: "host:port, connect timeout 10s". */
const connectTargets = new WeakMap<object, string>();

/** "host:port, connect timeout N" for `config`, as the driver resolves it (URL, PG* variables, defaults). */
export function connectTarget(config: pg.ClientConfig): string {
  const resolved = new pg.Client(config) as unknown as { host: string; port: number };
  const ms = config.connectionTimeoutMillis ?? 0;
  const timeout = ms === 0 ? "none" : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
  return `${resolved.host}:${resolved.port}, connect timeout ${timeout}`;
}

/** Records that `error` happened opening a connection with `config`, for mapDatabaseError's message. */
export function noteConnectFailure(error: unknown, config: pg.ClientConfig): unknown {
  if (error !== null && typeof error === "object" && !connectTargets.has(error)) {
    connectTargets.set(error, connectTarget(config));
  }
  return error;
}

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: () => void,
) => void;

/**
 * Errors of opening the pool's connections (queries go through connect() too) name the target, read
 * from the pool's options when it fails (connect() may copy another pool's settings in first).
 */
function noteConnectFailures(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as (
    callback?: ConnectCallback,
  ) => Promise<pg.PoolClient> | undefined;
  (pool as unknown as { connect: unknown }).connect = (callback?: ConnectCallback) => {
    if (callback) {
      return connect((error, client, done) =>
        callback(error && (noteConnectFailure(error, pool.options) as Error), client, done),
      );
    }
    return connect()!.catch((error: unknown) => {
      throw noteConnectFailure(error, pool.options);
    });
  };
}

export function createPool(options: PoolOptions): pg.Pool {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "reproq",
    connectionTimeoutMillis: connectTimeoutMs,
  });
  noteConnectFailures(pool);
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  if (options.preparedStatements === false) disablePreparedStatements(pool);
  return pool;
}

/** Pools, and clients checked out of them, whose statements go unnamed. */
const unnamed = new WeakSet<object>();

/**
 * Named prepared statements off for `pool` and every client checked out of it from now on (the
 * preparedStatements setting, for poolers that cannot keep them across transactions).
 */
export function disablePreparedStatements(pool: pg.Pool): void {
  if (unnamed.has(pool)) return;
  unnamed.add(pool);
  pool.on("acquire", (client) => unnamed.add(client));
}

/**
 * Named prepared statements off for one client the application passed in (`{ client }`) while the
 * preparedStatements setting is off: it may come from a pool of the application's own, behind the
 * same pooler.
 */
export function disableClientPreparedStatements(client: Queryable): void {
  unnamed.add(client);
}

/** Whether statements sent through `db` may be named prepared statements. */
export function usesPreparedStatements(db: Queryable): boolean {
  return !unnamed.has(db);
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EPIPE",
]);

/** Redacts the password of a connection URL for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/** Turns driver errors into typed errors with a hint; anything else passes through unchanged. */
export function mapDatabaseError(error: unknown, schema?: string): unknown {
  if (error instanceof ReproqError) return error;
  const err = error as { code?: string; message?: string };
  const code = err?.code;
  // Node reports "every address refused" (e.g. localhost as ::1 and 127.0.0.1) with an empty message.
  const message = err?.message || err?.code || String(error);
  if (code === "42P01" || code === "3F000" || code === "42883") {
    return new SchemaError(
      `the Reproq schema${schema ? ` "${schema}"` : ""} is missing or incomplete (${message}); run \`reproq migrate\` or call migrate()`,
      { cause: error },
    );
  }
  if (
    (code && CONNECTION_CODES.has(code)) ||
    code === "57P01" ||
    code === "57P03" ||
    code === "08006" ||
    code === "08001" ||
    code === "3D000" ||
    code === "28P01" ||
    code === "28000" ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(message)
  ) {
    const target = error !== null && typeof error === "object" ? connectTargets.get(error) : undefined;
    return new ConnectionError(`cannot reach PostgreSQL${target ? ` at ${target}` : ""}: ${message}`, {
      cause: error,
    });
  }
  return error;
}

/** Runs a database call, turning driver errors into typed errors (see mapDatabaseError). */
export async function guarded<T>(schema: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw mapDatabaseError(error, schema);
  }
}
