/**
 * The worker's HTTP endpoints against a real database: /metrics figures equal the runs done,
 * /healthz, /events with ids, resume and heartbeats, every refusal (token, allow-list, mutual
 * TLS) and a clean stop. Waits are on events or bounded polls, never fixed sleeps.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { runWorker, task } from "../../src/index.js";
import { get, httpSurface, SseReader, sample } from "../support/http.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";
import { startWorker } from "../support/worker.js";

useReproq();

const TOKEN = "test-token-123";
const AUTH = { authorization: `Bearer ${TOKEN}` };

const ok = task("http.ok", { queue: "http-q" }, (n: number) => n * 2);
const broken = task("http.broken", { queue: "http-q", maxAttempts: 1 }, () => {
  throw new Error("broken on purpose");
});
const idle = task("http.idle", { queue: "http-idle" }, (n: number) => n);
const low = task("http.low", { queue: "http-low" }, () => 0);

async function serve(config: Record<string, unknown> = {}, queues = ["http-q"]) {
  const http = httpSurface();
  const worker = await startWorker(
    { queues, metricsAddr: "127.0.0.1:0", metricsAuthToken: TOKEN, ...config },
    { surfaces: [http.surface] },
  );
  return { worker, server: http.server(), url: http.server().url };
}

describe("/metrics", () => {
  it("counts the runs done by queue and task, with attempt durations and queue depth", async () => {
    const { url } = await serve({ metricsQueueDepthInterval: "1ms" });
    const runs = await Promise.all([1, 2, 3].map((n) => ok.enqueue(n)));
    const bad = await broken.enqueue();
    // A queue this worker does not serve: its READY runs are the depth to see.
    await idle.enqueue(1);
    await idle.enqueue(2);
    for (const run of runs) await run.wait({ timeout: 10_000 });
    await bad.wait({ timeout: 10_000 }).catch(() => {});

    const metrics = await eventually(async () => {
      const { status, body, headers } = await get(`${url}/metrics`, AUTH);
      expect(status).toBe(200);
      expect(headers.get("content-type")).toContain("text/plain");
      return sample(body, "reproq_runs_total", { outcome: "failed", queue: "http-q" }) === 1 ? body : null;
    });
    expect(sample(metrics, "reproq_runs_total", { outcome: "succeeded", queue: "http-q" })).toBe(3);
    expect(sample(metrics, "reproq_runs_total", { outcome: "claimed", queue: "http-q" })).toBe(4);
    expect(sample(metrics, "reproq_task_runs_total", { outcome: "succeeded", task: "http.ok" })).toBe(3);
    expect(sample(metrics, "reproq_task_runs_total", { outcome: "failed", task: "http.broken" })).toBe(1);
    expect(
      sample(metrics, "reproq_attempt_duration_seconds_count", { queue: "http-q", task: "http.ok" }),
    ).toBe(3);
    expect(sample(metrics, "reproq_enqueue_to_start_seconds_count", { queue: "http-q" })).toBe(4);
    expect(sample(metrics, "reproq_queue_depth", { queue: "http-idle", status: "READY" })).toBe(2);
    // Series exist before their first increment: a registered task, a served queue's outcomes.
    expect(sample(metrics, "reproq_task_runs_total", { outcome: "cancelled", task: "http.low" })).toBe(0);
    expect(sample(metrics, "reproq_runs_total", { outcome: "expired", queue: "http-q" })).toBe(0);
    expect(sample(metrics, "reproq_runs_in_flight")).toBe(0);
    expect(sample(metrics, "reproq_pool_clients", { state: "max" })).toBeGreaterThan(0);
    expect(sample(metrics, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(metrics).toContain("nodejs_eventloop_lag_seconds");
  });
});

describe("/healthz", () => {
  it("answers 200 with the worker's id, version, uptime and last claim and heartbeat", async () => {
    const { url, worker } = await serve();
    await eventually(() => worker.status().lastHeartbeatAt);
    const { status, body } = await get(`${url}/healthz`, AUTH);
    expect(status).toBe(200);
    const health = JSON.parse(body) as Record<string, unknown>;
    expect(health).toMatchObject({ status: "ok", workerId: worker.id, state: "running" });
    expect(typeof health.version).toBe("string");
    expect(typeof health.uptime).toBe("number");
    expect(health.lastHeartbeatAt).toEqual(expect.any(String));
    expect(health).toHaveProperty("lastClaimAt");
  });
});

describe("refusals", () => {
  it("answers 401 without the token or with a wrong one, the same whatever the path", async () => {
    const { url } = await serve();
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer nope" },
      { authorization: `Basic ${TOKEN}` },
    ];
    for (const headers of attempts) {
      for (const route of ["/metrics", "/healthz", "/events", "/nothing-here"]) {
        const res = await get(`${url}${route}`, headers);
        expect([route, res.status, res.body]).toEqual([route, 401, "unauthorized\n"]);
      }
    }
    expect((await get(`${url}/nothing-here`, AUTH)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: "POST", headers: AUTH });
    expect(post.status).toBe(405);
  });

  it("answers 403 to a client outside the allow-list, even with the token", async () => {
    const { url } = await serve({ metricsAllowCidrs: ["10.0.0.0/8", "fd00::/8"] });
    const res = await get(`${url}/metrics`, AUTH);
    expect([res.status, res.body]).toEqual([403, "forbidden\n"]);
  });

  it("lets a client inside the allow-list through (no token set)", async () => {
    const { url } = await serve({ metricsAuthToken: undefined, metricsAllowCidrs: ["127.0.0.0/8", "::1"] });
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });

  it("with mutual TLS, refuses a client without a certificate and serves one signed by the CA", async () => {
    const certs = makeCertificates();
    const { server } = await serve({
      metricsAuthToken: undefined,
      metricsTlsCert: certs.serverCert,
      metricsTlsKey: certs.serverKey,
      metricsTlsClientCa: certs.caCert,
    });
    expect(server.url).toMatch(/^https:/);
    const ca = readFileSync(certs.caCert);
    const without = await httpsGet(`${server.url}/healthz`, { ca });
    expect(without.status === 401 || without.error !== undefined).toBe(true);
    const withCert = await httpsGet(`${server.url}/healthz`, {
      ca,
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    });
    expect(withCert.status).toBe(200);
  });

  it("refuses to start on a bad allow-list entry or half a TLS pair", async () => {
    const surfaces = [httpSurface().surface];
    const start = (config: Record<string, unknown>) =>
      startWorker({ queues: ["http-q"], metricsAddr: "127.0.0.1:0", ...config }, { surfaces });
    await expect(start({ metricsAllowCidrs: ["intranet"] })).rejects.toThrow(
      /"intranet" is not an IP address/,
    );
    await expect(start({ metricsTlsCert: "/nonexistent.pem" })).rejects.toThrow(/set both or neither/);
    await expect(start({ metricsTlsClientCa: "/nonexistent.pem" })).rejects.toThrow(/needs metricsTlsCert/);
  });

  it("warns loudly when it listens beyond loopback with no token, allow-list or client CA", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    const http = httpSurface();
    await startWorker({ queues: ["http-q"], metricsAddr: "0.0.0.0:0" }, { surfaces: [http.surface], logger });
    expect(lines.some((line) => line.includes("OPEN TO THE NETWORK"))).toBe(true);
  });
});

describe("/events", () => {
  it("streams run events with ids, heartbeats, and resumes from Last-Event-ID", async () => {
    const { url } = await serve({ eventsHeartbeatInterval: "100ms" });
    const first = new SseReader(`${url}/events`, AUTH);
    await first.until((r) => r.opened);
    const run = await ok.enqueue(10);
    await first.until((r) => r.events("succeeded").some((e) => e.json.id === run.id));
    await first.until((r) => r.comments.includes(": ping"));
    const seen = first.frames;
    expect(seen.map((frame) => frame.event)).toEqual(
      expect.arrayContaining(["enqueued", "started", "succeeded"]),
    );
    const counter = (id: unknown) => Number(String(id).split("-").at(-1));
    const stream = String(seen[0]?.id).split("-")[0];
    expect(seen.every((frame) => String(frame.id).startsWith(`${stream}-`))).toBe(true);
    const ids = seen.map((frame) => counter(frame.id));
    expect(ids.every(Number.isInteger)).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const started = first.events("started").find((e) => e.json.id === run.id);
    expect(started?.json).toMatchObject({ task: "http.ok", queue: "http-q", attempt: 1 });
    const lastSeen = seen.at(-1)?.id as string;
    first.close();

    // Missed while disconnected: two more runs.
    const missed = await Promise.all([ok.enqueue(11), ok.enqueue(12)]);
    for (const r of missed) await r.wait({ timeout: 10_000 });
    const resumed = new SseReader(`${url}/events`, { ...AUTH, "last-event-id": lastSeen });
    await resumed.until((r) => missed.every((m) => r.events("succeeded").some((e) => e.json.id === m.id)));
    expect(resumed.frames.every((frame) => counter(frame.id) > counter(lastSeen))).toBe(true);
    expect(resumed.events("succeeded").some((e) => e.json.id === run.id)).toBe(false);
    resumed.close();
  });

  it("keeps a stream open past 30 seconds (the reference's streams were cut after ten), with heartbeats all along", async () => {
    const { url } = await serve({ eventsHeartbeatInterval: "1s" });
    const reader = new SseReader(`${url}/events`, AUTH);
    const opened = Date.now();
    await reader.until((r) => r.ended || (r.comments.length >= 20 && Date.now() - opened > 31_000), 45_000);
    expect(reader.ended).toBe(false);
    const run = await ok.enqueue(5);
    await reader.until((r) => r.events("succeeded").some((e) => e.json.id === run.id));
    reader.close();
  }, 60_000);

  it("answers 503 with a hint in low memory mode", async () => {
    const { url } = await serve({ lowMemoryMode: true }, ["http-low"]);
    const res = await get(`${url}/events`, AUTH);
    expect(res.status).toBe(503);
    expect(res.body).toContain("LOW_MEMORY_MODE");
    expect((await get(`${url}/metrics`, AUTH)).status).toBe(200);
    await low.enqueue();
  });
});

describe("the memory log", () => {
  it("logs RSS and heap every memoryLogInterval, with or without the endpoints", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const worker = await runWorker({
      logger,
      config: { queues: ["http-q"], memoryLogInterval: "20ms", pollInterval: 500 },
    });
    try {
      const line = await eventually(() => lines.find((l) => JSON.parse(l).msg === "memory"));
      expect(JSON.parse(line)).toMatchObject({ rssMb: expect.any(Number), heapUsedMb: expect.any(Number) });
    } finally {
      await worker.stop({ timeout: 0 });
    }
  });
});

describe("stopping", () => {
  it("ends open streams (after the last state event) and closes the server with the worker", async () => {
    const { url, worker } = await serve();
    const reader = new SseReader(`${url}/events`, AUTH);
    await reader.until((r) => r.opened);
    await worker.stop({ timeout: 0 });
    await reader.until((r) => r.ended);
    expect(reader.events("state").map((e) => e.json.state)).toEqual(["stopping", "stopped"]);
    await expect(fetch(`${url}/healthz`, { headers: AUTH })).rejects.toThrow();
  });

  it("runWorker starts the endpoints from metricsAddr and stop() closes them", async () => {
    const port = await freePort();
    const worker = await runWorker({
      logger: false,
      config: { queues: ["http-q"], metricsAddr: `127.0.0.1:${port}`, pollInterval: 500 },
    });
    try {
      expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await worker.stop({ timeout: 0 });
    }
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates() {
  const dir = mkdtempSync(path.join(tmpdir(), "reproq-mtls-"));
  tempDirs.push(dir);
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=test-ca",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.crt"),
  );
  for (const [name, cn, ext] of [
    ["server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"],
    ["client", "client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
    );
    execFileSync("sh", ["-c", `printf '%s\\n' '${ext}' > '${f(`${name}.ext`)}'`]);
    openssl(
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.crt"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f(`${name}.ext`),
      "-out",
      f(`${name}.crt`),
    );
  }
  return {
    caCert: f("ca.crt"),
    serverCert: f("server.crt"),
    serverKey: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
  };
}

function httpsGet(url: string, tls: https.RequestOptions): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = https.get(url, { ...tls, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode }));
    });
    req.on("error", (error) => resolve({ error: error.message }));
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
