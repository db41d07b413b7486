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
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "reproq",
    connectionTimeoutMillis: 10_000,
  });
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
    return new ConnectionError(`cannot reach PostgreSQL: ${message}`, { cause: error });
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
