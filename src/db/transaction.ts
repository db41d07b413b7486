/** Running a function as one transaction: on a pooled connection, or on a client the application passed. */
import type pg from "pg";
import type { Queryable } from "./pool.js";
import { isTransientConflict } from "./transient.js";

/**
 * BEGIN, fn, COMMIT (ROLLBACK on error). With `retries`, a deadlock or serialization
 * failure (PostgreSQL rolled this transaction back in favour of another) runs fn again.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: { retries?: number } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const value = await fn(client);
      await client.query("COMMIT");
      return value;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      if (attempt >= (options.retries ?? 0) || !isTransientConflict(error)) throw error;
    } finally {
      client.release();
    }
  }
}

/** PostgreSQL's "SAVEPOINT can only be used in transaction blocks". */
const NO_ACTIVE_TRANSACTION = "25P01";
const SAVEPOINT = "reproq_unit";

/**
 * fn as one unit on a client the application passed in. Inside the application's transaction it
 * runs under a savepoint: the writes commit or roll back with that transaction, and a failure undoes
 * only fn's writes, leaving the transaction usable. On a client outside any transaction it runs in a
 * transaction of its own, so a failure halfway never leaves part of fn's writes behind.
 */
export async function withClientTransaction<T>(
  client: Queryable,
  fn: (client: Queryable) => Promise<T>,
): Promise<T> {
  let own = false;
  try {
    await client.query(`SAVEPOINT ${SAVEPOINT}`);
  } catch (error) {
    if ((error as { code?: unknown }).code !== NO_ACTIVE_TRANSACTION) throw error;
    await client.query("BEGIN");
    own = true;
  }
  try {
    const value = await fn(client);
    await client.query(own ? "COMMIT" : `RELEASE SAVEPOINT ${SAVEPOINT}`);
    return value;
  } catch (error) {
    if (own) {
      await client.query("ROLLBACK").catch(() => {});
    } else {
      await client
        .query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
        .then(() => client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`))
        .catch(() => {});
    }
    throw error;
  }
}
