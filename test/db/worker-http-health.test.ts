/**
 * /healthz turns 503 when the worker's database stops answering, and 200 again once it is back.
 * This file starts its own
 * private embedded cluster and stops it, so no other test file loses its database.
 */
import { describe, expect, it } from "vitest";
import { task } from "../../src/index.js";
import { get, httpSurface } from "../support/http.js";
import { usePrivatePostgres } from "../support/private-pg.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

task("http-health.noop", () => 0);

const privatePg = usePrivatePostgres("health");

describe("/healthz and the database", () => {
  it("answers 200 while the database answers, 503 with a reason once it is gone, and 200 when it is back", async () => {
    const pg = await privatePg.start();

    const http = httpSurface();
    const worker = await startWorker(
      {
        databaseUrl: pg.url,
        metricsAddr: "127.0.0.1:0",
        heartbeatInterval: "200ms",
        connectTimeout: "1s",
      },
      { surfaces: [http.surface] },
    );
    const url = `${http.server().url}/healthz`;
    await eventually(() => worker.status().lastHeartbeatAt);
    expect((await get(url)).status).toBe(200);

    await pg.stop();
    const down = await eventually(async () => {
      const res = await get(url);
      return res.status === 503 ? res : null;
    }, 20_000);
    expect(JSON.parse(down.body)).toEqual({ status: "unhealthy", reason: "the database does not answer" });

    await pg.restart();
    const back = await eventually(async () => {
      const res = await get(url);
      return res.status === 200 ? res : null;
    }, 30_000);
    expect(JSON.parse(back.body)).toMatchObject({ status: "ok", workerId: worker.id });
  }, 90_000);
});
