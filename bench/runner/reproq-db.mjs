// The scratch database the Reproq-only benches (bench/runner/worker.mjs, bench/runner/flow.mjs) run in: created on
// openServer's server, migrated, and configured as the application's database.
import { randomBytes } from "node:crypto";
import os from "node:os";
import pg from "pg";
import { close, configure, migrate } from "../../dist/index.js";
import { openServer, serverInfo } from "./lib.mjs";

/**
 * Opens a fresh database (a cluster of its own in `dataDir` unless DATABASE_URL is set), migrates
 * it and configures Reproq to use it. Returns a client on it, the schema and its runs table, the server's facts
 * for the report, and close(), which undoes all of it.
 */
export async function openReproqDatabase({ dataDir, prefix }) {
  const db = await openServer({ dataDir, prefix });
  const databaseUrl = await db.createDatabase(randomBytes(4).toString("hex"));
  const sql = new pg.Client({ connectionString: databaseUrl });
  const closeAll = async () => {
    await close();
    await sql.end().catch(() => {});
    await db.close();
  };
  try {
    await sql.connect();
    // A neutral cwd, so a config file in the project cannot change the settings measured.
    configure({ databaseUrl, cwd: os.tmpdir() });
    const { schema } = await migrate();
    const info = await serverInfo(sql);
    return {
      databaseUrl,
      sql,
      schema,
      table: `"${schema}".task_runs`,
      /** Report lines naming the server and its durability settings. */
      describe: () => [
        `- database: ${db.where}; ${info.version}`,
        `- durability: fsync=${info.fsync}, synchronous_commit=${info.synchronousCommit}; shared_buffers=${info.sharedBuffers}`,
      ],
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
