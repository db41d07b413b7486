/**
 * A private embedded PostgreSQL for one test file, migrated, that the file may stop and start
 * again (same data, same port) without disturbing any other file's database.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { createPool } from "../../src/db/pool.js";
import { runMigrations } from "../../src/sql/migrate.js";

export interface PrivatePostgres {
  /** The running server (replaced by restart()). */
  readonly server: EmbeddedPostgres;
  readonly url: string;
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  restart(): Promise<EmbeddedPostgres>;
}

/** Registers the cleanup; call start() inside the test (starting takes about a second). */
export function usePrivatePostgres(prefix: string): { start: () => Promise<PrivatePostgres> } {
  let server: EmbeddedPostgres | undefined;
  let dataDir = "";
  afterAll(async () => {
    await server?.stop();
    // As root the data may be kept outside the 0700 temporary folder (see src/db/embedded.ts).
    if (server) await rm(server.dataDir, { recursive: true, force: true });
    if (dataDir) await rm(path.dirname(dataDir), { recursive: true, force: true });
  });
  return {
    start: async () => {
      dataDir = path.join(await mkdtemp(path.join(tmpdir(), `reproq-${prefix}-`)), "pg");
      server = await startEmbeddedPostgres({ dataDir, fast: true });
      const pool = createPool({ url: server.url, max: 1 });
      await runMigrations(pool, "reproq");
      await pool.end();
      const started = server;
      return {
        get server() {
          return server ?? started;
        },
        url: started.url,
        stop: () => (server ?? started).stop(),
        restart: async () => {
          server = await startEmbeddedPostgres({ dataDir, port: started.port, fast: true });
          return server;
        },
      };
    },
  };
}
