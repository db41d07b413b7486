/**
 * PostgreSQL restarts while a run is executing. This file starts its own private embedded
 * cluster, so restarting it disturbs no other test file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { createPool } from "../../src/db/pool.js";
import { close, configure, task } from "../../src/index.js";
import { runMigrations } from "../../src/sql/migrate.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

let returned = 0;
const slow = task("restart.slow", async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  returned++;
  return ms;
});

let server: EmbeddedPostgres | undefined;
let dataDir = "";

afterAll(async () => {
  await close();
  await server?.stop();
  // As root the data may be kept outside the 0700 temporary folder (see src/db/embedded.ts).
  if (server) await rm(server.dataDir, { recursive: true, force: true });
  if (dataDir) await rm(path.dirname(dataDir), { recursive: true, force: true });
});

describe("a PostgreSQL restart during a run", () => {
  it("keeps the result and writes it once the database is back; the worker carries on", async () => {
    dataDir = path.join(await mkdtemp(path.join(tmpdir(), "reproq-restart-")), "pg");
    server = await startEmbeddedPostgres({ dataDir, fast: true });
    const pool = createPool({ url: server.url, max: 1 });
    await runMigrations(pool, "reproq");
    await pool.end();
    configure({ databaseUrl: server.url });

    await startWorker({ leaseDuration: "30s", heartbeatInterval: "1s" });
    const r = await slow.enqueue(2000);
    await eventually(async () => (await r.refresh()).status === "RUNNING");

    const port = server.port;
    await server.stop();
    // The task returns while PostgreSQL is down: its result has to wait for the restart.
    await eventually(async () => returned === 1);
    server = await startEmbeddedPostgres({ dataDir, port, fast: true });
    expect(server.port).toBe(port);

    await r.wait({ timeout: 60_000 });
    expect([r.status, r.attempts, r.returnValue]).toEqual(["SUCCESSFUL", 1, 2000]);

    const after = await slow.enqueue(10);
    await after.wait({ timeout: 30_000 });
    expect(after.status).toBe("SUCCESSFUL");
  });
});
