/**
 * PostgreSQL restarts while a run is executing. This file starts its own private embedded
 * cluster, so restarting it disturbs no other test file.
 */
import { afterAll, describe, expect, it } from "vitest";
import { close, configure, task } from "../../src/index.js";
import { usePrivatePostgres } from "../support/private-pg.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

let returned = 0;
const slow = task("restart.slow", async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  returned++;
  return ms;
});

const privatePg = usePrivatePostgres("restart");

afterAll(async () => {
  await close();
});

describe("a PostgreSQL restart during a run", () => {
  it("keeps the result and writes it once the database is back; the worker carries on", async () => {
    const pg = await privatePg.start();
    configure({ databaseUrl: pg.url });

    await startWorker({ leaseDuration: "30s", heartbeatInterval: "1s" });
    const r = await slow.enqueue(2000);
    await eventually(async () => (await r.refresh()).status === "RUNNING");

    const port = pg.server.port;
    await pg.stop();
    // The task returns while PostgreSQL is down: its result has to wait for the restart.
    await eventually(async () => returned === 1);
    expect((await pg.restart()).port).toBe(port);

    await r.wait({ timeout: 60_000 });
    expect([r.status, r.attempts, r.returnValue]).toEqual(["SUCCESSFUL", 1, 2000]);

    const after = await slow.enqueue(10);
    await after.wait({ timeout: 30_000 });
    expect(after.status).toBe("SUCCESSFUL");
  });
});
