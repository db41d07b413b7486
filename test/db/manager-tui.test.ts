/**
 * The manager API's TUI routes against a real worker and a real database: the worker proxies
 * (metrics, health, a live event stream, 502 with the worker down, 503 in low memory mode, read
 * scope required), tui/config/, and device pairing end to end (create, poll, log in, approve or
 * deny with the CSRF token, the token handed out once, refusals, rate limits, off without a
 * bearer token). Waits are on events or bounded polls, never fixed sleeps.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReproqConfig } from "../../src/config/schema.js";
import { issueToken, tokenKeys } from "../../src/http/tokens.js";
import { createManagerHandler, loadConfig, type ManagerHandlerOptions, task } from "../../src/index.js";
import { get, httpSurface, SseReader, sample } from "../support/http.js";
import { useReproq } from "../support/reproq.js";
import { startWorker } from "../support/worker.js";

const ctx = useReproq();

const TOKEN = "tui-bearer-token";
const KEYS = tokenKeys({ metricsAuthToken: TOKEN });
const echo = task("tui.echo", { queue: "tui-q" }, (n: number) => n);

let DEFAULTS: ReproqConfig;
const servers: http.Server[] = [];

beforeAll(async () => {
  DEFAULTS = (await loadConfig({ cwd: tmpdir(), env: {} })).values;
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** The handler on its own node:http server under /reproq/; returns its base URL. */
async function manager(
  config: Partial<ReproqConfig> = {},
  options: Partial<Omit<ManagerHandlerOptions, "config">> = {},
): Promise<string> {
  const handler = createManagerHandler({
    pool: ctx.db.pool,
    ...options,
    config: { ...DEFAULTS, metricsAuthToken: TOKEN, ...config },
  });
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/reproq`;
}

async function worker(config: Record<string, unknown> = {}): Promise<string> {
  const surface = httpSurface();
  await startWorker(
    { queues: ["tui-q"], metricsAddr: "127.0.0.1:0", metricsAuthToken: TOKEN, ...config },
    { surfaces: [surface.surface] },
  );
  return surface.server().url;
}

/** A port nothing listens on: bound, then closed. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const readToken = async () => (await issueToken(KEYS, "read", 60_000)).token;

describe("worker proxies", () => {
  it("serve the worker's metrics and health to a read-scope caller, and refuse one without credentials", async () => {
    const url = await manager({ workerMetricsUrl: await worker() });
    const read = auth(await readToken());
    const metrics = await get(`${url}/tui/metrics/`, read);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    expect(sample(metrics.body, "reproq_runs_in_flight")).toBe(0);
    const health = await get(`${url}/tui/healthz/`, read);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok", state: "running" });
    for (const route of ["tui/metrics", "tui/healthz", "tui/events"]) {
      expect((await get(`${url}/${route}/`)).status).toBe(401);
      expect((await get(`${url}/${route}/`, auth("not-a-token"))).status).toBe(401);
    }
    expect((await fetch(`${url}/tui/metrics/`, { method: "POST", headers: read })).status).toBe(405);
  });

  it("relay the event stream as it arrives and keep it open", async () => {
    const url = await manager({ workerMetricsUrl: await worker({ eventsHeartbeatInterval: "100ms" }) });
    const reader = new SseReader(`${url}/tui/events/`, auth(await readToken()));
    try {
      await reader.until((r) => r.opened);
      const first = await echo.enqueue(1);
      await reader.until((r) => r.events("succeeded").some((e) => e.json.id === first.id));
      // Still streaming: heartbeats keep arriving and a later run's events come through too.
      const seen = reader.comments.length;
      await reader.until((r) => r.comments.length >= seen + 2);
      const second = await echo.enqueue(2);
      await reader.until((r) => r.events("succeeded").some((e) => e.json.id === second.id));
      expect(reader.ended).toBe(false);
    } finally {
      reader.close();
    }
  });

  it("answer 502 with a one-line JSON error when the worker is down", async () => {
    const url = await manager({ workerMetricsUrl: `http://127.0.0.1:${await deadPort()}` });
    const read = auth(await readToken());
    for (const route of ["tui/metrics", "tui/healthz", "tui/events"]) {
      const res = await get(`${url}/${route}/`, read);
      expect(res.status).toBe(502);
      expect(res.body.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(res.body).error).toMatch(/proxy failed/);
    }
  });

  it("answer 503 with a hint in low memory mode, and 404 when no worker is configured", async () => {
    const low = await manager({ workerMetricsUrl: await worker(), lowMemoryMode: true });
    const read = auth(await readToken());
    for (const route of ["tui/metrics", "tui/healthz", "tui/events"]) {
      const res = await get(`${low}/${route}/`, read);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body)).toMatchObject({ hint: expect.stringContaining("LOW_MEMORY_MODE") });
    }
    const none = await manager();
    expect((await get(`${none}/tui/metrics/`, read)).status).toBe(404);
  });
});
