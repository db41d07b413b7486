/** --lease-duration alone is enough: a heartbeat that was not given follows the lease. */
import os from "node:os";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { task } from "../../src/index.js";
import { setUpWorker } from "../../src/worker/bootstrap.js";
import { lines, runCli } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";

const ctx = useTestDatabase();
task("lease.noop", async () => null);
const cwd = os.tmpdir();

describe("lease and heartbeat", () => {
  it("derives a third of a short lease when the heartbeat is not given", async () => {
    const resolved = await loadConfig({
      cwd,
      env: {},
      overrides: { leaseDuration: "6s" },
      overrideSource: "flag",
    });
    expect(resolved.values.heartbeatInterval).toBe(2000);
    expect(resolved.sources.heartbeatInterval).toEqual({ kind: "derived", from: "leaseDuration" });
    const long = await loadConfig({ cwd, env: {}, overrides: { leaseDuration: "5m" } });
    expect(long.values.heartbeatInterval).toBe(10_000);
    expect(long.sources.heartbeatInterval).toEqual({ kind: "default" });
  });

  it("starts a worker with only a short lease given", async () => {
    const setup = await setUpWorker({
      config: { databaseUrl: ctx.db.url, leaseDuration: "3s" },
      cwd,
      logger: false,
    });
    try {
      expect(setup.config.leaseDuration).toBe(3000);
      expect(setup.config.heartbeatInterval).toBe(1000);
    } finally {
      await setup.connection.close();
    }
  });

  it("still refuses a heartbeat that was given and is not shorter than the lease", async () => {
    await expect(
      setUpWorker({
        config: { databaseUrl: ctx.db.url, leaseDuration: "5s", heartbeatInterval: "10s" },
        cwd,
        logger: false,
      }),
    ).rejects.toThrow(
      "heartbeatInterval (10s, code) must be shorter than leaseDuration (5s, code); give a shorter heartbeat interval, or leave it unset to use a third of the lease",
    );
  });

  it("names the flags of a refused pair on the command line", async () => {
    const result = await runCli(
      ["worker", "--dsn", ctx.db.url, "--lease-duration", "5s", "--heartbeat-interval", "10s"],
      { cwd },
    );
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      "reproq: heartbeatInterval (10s, flag --heartbeat-interval) must be shorter than leaseDuration (5s, flag --lease-duration); give a shorter heartbeat interval, or leave it unset to use a third of the lease",
    ]);
  });
});
