/**
 * The worker's HTTP endpoints, off unless `metricsAddr` is set: GET /metrics (Prometheus text),
 * GET /healthz (200 or 503 with a small JSON body) and GET /events (server-sent events of run
 * lifecycle and worker state). Built on node:http/https, on the worker's status snapshot, events
 * and run feed only. Every request passes the allow-list (403) and the token (401) before any
 * route is looked at, so an unauthorized client learns nothing else. See docs/observability.md.
 */
import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type pg from "pg";
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { pingDatabase, selectQueueDepth } from "../sql/stats.js";
import type { AttachedSurface, WorkerView } from "../worker/surface.js";
import { bearerMatches, isLoopbackHost, parseAllowList, parseListenAddress, tokenDigest } from "./auth.js";
import { EventStream } from "./event-stream.js";
import { WorkerMetrics } from "./metrics.js";
import { publishWorkerEvents } from "./run-events.js";

/** Longest a /healthz database ping may take before the answer is 503. */
const PING_TIMEOUT_MS = 2000;
/** Events kept for Last-Event-ID resume. */
const HISTORY = 1000;
/** Bytes a slow /events client may leave unread before it is dropped. */
const MAX_CLIENT_BUFFER = 1 << 20;

export interface WorkerHttpOptions {
  worker: WorkerView;
  config: ReproqConfig;
  log: Logger;
  pool: pg.Pool;
}

export interface WorkerHttpServer extends AttachedSurface {
  /** Where it listens (the port is the real one when metricsAddr asked for port 0). */
  readonly address: { host: string; port: number };
  readonly url: string;
  readonly metrics: WorkerMetrics;
  readonly events: EventStream | null;
}

export async function startWorkerHttp(options: WorkerHttpOptions): Promise<WorkerHttpServer> {
  const { worker, config, log, pool } = options;
  if (!config.metricsAddr) throw new ConfigError("metricsAddr is not set");
  const listen = parseListenAddress(config.metricsAddr);
  const allowed = config.metricsAllowCidrs ? parseAllowList(config.metricsAllowCidrs) : null;
  const token = config.metricsAuthToken ? tokenDigest(config.metricsAuthToken) : null;
  const tls = readTls(config);
  const low = config.lowMemoryMode;

  if (!isLoopbackHost(listen.host) && !token && !allowed && !tls?.requestCert) {
    log.warn(
      { metricsAddr: config.metricsAddr },
      "THE WORKER'S HTTP ENDPOINTS ARE OPEN TO THE NETWORK: metricsAddr is not a loopback address and none of metricsAuthToken, metricsAllowCidrs or metricsTlsClientCa is set",
    );
  }

  const events = low
    ? null
    : new EventStream({
        history: HISTORY,
        maxBufferedBytes: MAX_CLIENT_BUFFER,
        heartbeatMs: config.eventsHeartbeatInterval,
      });
  const unpublish = events ? await publishWorkerEvents(worker, events) : () => {};
  const metrics = new WorkerMetrics({
    worker,
    queueDepth: sampler(() => selectQueueDepth(pool, config.schema), config.metricsQueueDepthInterval, log),
    eventStream: () => ({ clients: events?.clients ?? 0, dropped: events?.dropped ?? 0 }),
  });
  const health = () => checkHealth(worker, pool, config);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const remote = req.socket.remoteAddress ?? "";
    if (allowed && !allowed(remote)) return deny(res, 403, "forbidden", log, req);
    if (tls?.requestCert && !(req.socket as TLSSocket).authorized)
      return deny(res, 401, "unauthorized", log, req);
    if (token && !bearerMatches(req.headers.authorization, token)) {
      res.setHeader("www-authenticate", 'Bearer realm="reproq"');
      return deny(res, 401, "unauthorized", log, req);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return text(res, 405, "method not allowed\n");
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      metrics.scrape().then(
        (body) => send(res, 200, metrics.contentType, body, req.method === "HEAD"),
        (error: unknown) => {
          log.warn({ err: error }, "/metrics failed");
          text(res, 500, "metrics failed\n");
        },
      );
    } else if (path === "/healthz") {
      void health()
        .catch(
          (): Health => ({ code: 503, body: { status: "unhealthy", reason: "the health check failed" } }),
        )
        .then(({ code, body }) =>
          send(res, code, "application/json", `${JSON.stringify(body)}\n`, req.method === "HEAD"),
        );
    } else if (path === "/events") {
      if (!events)
        return text(res, 503, "the event stream is off in low memory mode (LOW_MEMORY_MODE); use /metrics\n");
      if (req.method === "HEAD") return send(res, 200, "text/event-stream", "", true);
      const lastId = req.headers["last-event-id"];
      events.add(res, Array.isArray(lastId) ? lastId[0] : lastId);
    } else {
      text(res, 404, "not found\n");
    }
  };

  const serverOptions: http.ServerOptions = {
    maxHeaderSize: 16 * 1024,
    // Limits on receiving a request (slow clients); a response such as /events may last forever.
    headersTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
  };
  const server = tls
    ? https.createServer({ ...serverOptions, ...tls, minVersion: "TLSv1.2" }, handle)
    : http.createServer(serverOptions, handle);
  server.timeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host || undefined, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: unknown) => {
    unpublish();
    events?.close();
    metrics.close();
    throw new ConfigError(`metricsAddr ${config.metricsAddr}: cannot listen (${(error as Error).message})`);
  });
  // Once listening, a server error (out of file descriptors, say) is logged, never thrown at the worker.
  server.on("error", (error) => log.warn({ err: error }, "worker HTTP server error"));
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const url = `${tls ? "https" : "http"}://${host}:${bound.port}`;
  log.info(
    { url, tls: Boolean(tls), mtls: Boolean(tls?.requestCert), lowMemoryMode: low },
    "worker HTTP endpoints listening",
  );

  return {
    address,
    url,
    metrics,
    events,
    async close() {
      unpublish();
      events?.close();
      metrics.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function readTls(
  config: ReproqConfig,
): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean } | null {
  const { metricsTlsCert: certFile, metricsTlsKey: keyFile, metricsTlsClientCa: caFile } = config;
  if (!certFile && !keyFile) {
    if (caFile)
      throw new ConfigError(
        "metricsTlsClientCa needs metricsTlsCert and metricsTlsKey (mutual TLS is HTTPS)",
      );
    return null;
  }
  if (!certFile || !keyFile)
    throw new ConfigError("metricsTlsCert and metricsTlsKey go together: set both or neither");
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${key}: cannot read ${file} (${(error as Error).message})`);
    }
  };
  const tls = { cert: read(certFile, "metricsTlsCert"), key: read(keyFile, "metricsTlsKey") };
  if (!caFile) return { ...tls, requestCert: false, rejectUnauthorized: false };
  return { ...tls, ca: read(caFile, "metricsTlsClientCa"), requestCert: true, rejectUnauthorized: true };
}

/** A database read shared by concurrent callers and repeated at most every `intervalMs`. */
function sampler<T>(read: () => Promise<T>, intervalMs: number, log: Logger): () => Promise<T | null> {
  let at = Number.NEGATIVE_INFINITY;
  let last: T | null = null;
  let pending: Promise<T | null> | null = null;
  return () => {
    if (Date.now() - at < intervalMs) return Promise.resolve(last);
    pending ??= withTimeout(read(), PING_TIMEOUT_MS * 2)
      .then(
        (value) => {
          last = value;
          return value;
        },
        (error: unknown) => {
          log.warn({ err: (error as Error).message }, "queue depth sample failed");
          return null;
        },
      )
      .finally(() => {
        at = Date.now();
        pending = null;
      });
    return pending;
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Health {
  code: 200 | 503;
  body: Record<string, unknown>;
}

/**
 * Healthy while the worker runs and the database answers: a heartbeat that reached it recently
 * (within two heartbeat intervals, with no error since) is enough, otherwise a ping (SELECT 1) must
 * answer within two seconds. Answering at all shows the event loop is alive.
 */
export async function checkHealth(worker: WorkerView, pool: pg.Pool, config: ReproqConfig): Promise<Health> {
  const status = worker.status();
  const unhealthy = (reason: string): Health => ({ code: 503, body: { status: "unhealthy", reason } });
  if (status.state !== "running") return unhealthy(`the worker is ${status.state}`);
  const beat = status.lastHeartbeatAt === null ? null : Date.parse(status.lastHeartbeatAt);
  const fresh =
    beat !== null && Date.now() - beat <= 2 * config.heartbeatInterval && status.lastError === null;
  if (!fresh) {
    try {
      await withTimeout(pingDatabase(pool), PING_TIMEOUT_MS);
    } catch {
      return unhealthy("the database does not answer");
    }
  }
  return {
    code: 200,
    body: {
      status: "ok",
      workerId: status.workerId,
      version: status.version,
      state: status.state,
      uptime: Math.round(status.uptimeMs / 1000),
      lastClaimAt: status.lastClaimAt,
      lastHeartbeatAt: status.lastHeartbeatAt,
    },
  };
}

function send(res: ServerResponse, code: number, type: string, body: string, head: boolean): void {
  res.writeHead(code, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(head ? undefined : body);
}

function text(res: ServerResponse, code: number, body: string): void {
  send(res, code, "text/plain; charset=utf-8", body, false);
}

/** The same short answer whatever was asked, logged at debug (a scanner must not flood the log). */
function deny(res: ServerResponse, code: 401 | 403, body: string, log: Logger, req: IncomingMessage): void {
  log.debug(
    { path: req.url, method: req.method, remote: req.socket.remoteAddress, code },
    "worker HTTP request refused",
  );
  text(res, code, `${body}\n`);
}
