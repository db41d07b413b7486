/** Running a function inside one transaction on a pooled connection. */
import type pg from "pg";
import { isTransientConflict } from "../worker/transient.js";

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
