/**
 * The manager API's worker proxies: `tui/metrics/`, `tui/healthz/` and `tui/events/` forward to a
 * worker's `/metrics`, `/healthz` and `/events` (workerMetricsUrl), sending metricsAuthToken as the
 * bearer, so a TUI that can reach only the manager still sees a worker. The caller's own
 * credentials are never forwarded. `/events` is relayed as it arrives, with no timeout once the
 * upstream answered, until either side closes. See docs/observability.md.
 */
import type { ReproqConfig } from "../config/schema.js";
import { redactUrl } from "../db/pool.js";

const PROXIED_TYPES: Record<ProxyKind, string> = {
  metrics: "text/plain; version=0.0.4; charset=utf-8",
  health: "application/json; charset=utf-8",
  events: "text/event-stream; charset=utf-8",
};

export type ProxyKind = "metrics" | "health" | "events";

const PATHS: Record<ProxyKind, string> = { metrics: "/metrics", health: "/healthz", events: "/events" };
/** Longest the worker may take to answer (metrics and health in full; events until its headers). */
const UPSTREAM_TIMEOUT_MS = 5000;

/** What the manager writes back: a JSON error, a whole upstream body, or the upstream stream. */
export type ProxyReply =
  | { status: number; body: unknown; headers?: Record<string, string> }
  | { status: number; raw: { contentType: string; body: string | ReadableStream<Uint8Array> } };

export interface ProxyRequest {
  /** The caller's Last-Event-ID (events only), passed on so a reconnecting TUI resumes. */
  lastEventId?: string;
  /** Aborts the upstream request (the caller went away). */
  signal?: AbortSignal;
}

/** The proxy of one kind; answers without throwing. */
export async function proxyToWorker(
  config: Pick<ReproqConfig, "workerMetricsUrl" | "metricsAuthToken" | "lowMemoryMode">,
  kind: ProxyKind,
  request: ProxyRequest = {},
): Promise<ProxyReply> {
  if (config.lowMemoryMode)
    return {
      status: 503,
      body: {
        error: `${kind} proxy is off in low memory mode (LOW_MEMORY_MODE)`,
        hint: "unset LOW_MEMORY_MODE to proxy the worker's metrics, health and events",
      },
    };
  if (!config.workerMetricsUrl)
    return {
      status: 404,
      body: { error: `${kind} proxy not configured: set workerMetricsUrl (REPROQ_WORKER_METRICS_URL)` },
    };
  const target = `${config.workerMetricsUrl.replace(/\/+$/, "")}${PATHS[kind]}`;
  const headers: Record<string, string> = {};
  if (config.metricsAuthToken) headers.authorization = `Bearer ${config.metricsAuthToken}`;
  if (kind === "events") {
    headers.accept = "text/event-stream";
    if (request.lastEventId) headers["last-event-id"] = request.lastEventId;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), UPSTREAM_TIMEOUT_MS);
  const stop = () => controller.abort(new Error("client closed"));
  request.signal?.addEventListener("abort", stop, { once: true });
  let timedOut = false;
  controller.signal.addEventListener("abort", () => {
    timedOut = controller.signal.reason instanceof Error && controller.signal.reason.message === "timeout";
  });
  try {
    const upstream = await fetch(target, { headers, signal: controller.signal, redirect: "manual" });
    // The manager's own types, never the worker's: these pages share an origin with the approval
    // page, and a worker answering text/html must not run script there.
    const contentType = PROXIED_TYPES[kind];
    if (kind === "events" && upstream.ok && upstream.body) {
      clearTimeout(timer);
      return { status: upstream.status, raw: { contentType, body: upstream.body } };
    }
    const body = await upstream.text();
    return { status: upstream.status, raw: { contentType, body } };
  } catch {
    if (timedOut) return { status: 504, body: { error: `${kind} proxy timeout` } };
    return {
      status: 502,
      body: { error: `${kind} proxy failed: the worker at ${redactUrl(target)} did not answer` },
    };
  } finally {
    clearTimeout(timer);
  }
}
