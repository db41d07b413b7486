/**
 * The manager API: the HTTP endpoints the dashboard and the TUI read (`GET stats/`, the admin
 * action `POST queues/<name>/pause|resume`, the worker proxies `tui/metrics|healthz|events/`, and
 * `tui/config/` with device pairing in ./tui.ts), under a prefix (default `/reproq/`). One
 * request handler, served by `reproq serve` or mounted in an application: it is a node-style
 * `(req, res, next?)` function (node:http, Express, Connect; Fastify through `reply.raw`) and has
 * a `fetch(Request)` twin (Hono, Bun, Deno, workers). Access is one model: the bearer token
 * (admin), a signed JWT (its scope), or the application's `authorize` hook. See
 * docs/observability.md.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import type { Queryable } from "../db/pool.js";
import { ConfigError, InvalidInputError } from "../errors.js";
import { pauseQueueIn, resumeQueueIn } from "../ops/flow.js";
import { getManagerStats, type ManagerStats } from "../ops/manager-stats.js";
import { bearerToken, isLoopbackHost, tokenDigest, tokenMatches } from "./auth.js";
import type { Incoming, ManagerRequest, Reply } from "./manager-request.js";
import { covers, issueToken, type Scope, tokenKeys, verifyToken } from "./tokens.js";
import { tuiRoutes } from "./tui.js";
import { type ProxyKind, proxyToWorker } from "./worker-proxy.js";

export type { ManagerRequest } from "./manager-request.js";
export type { Scope } from "./tokens.js";

export interface ManagerHandlerOptions {
  /** Where the runs are: a pg.Pool (or client). */
  pool: Queryable;
  /** The resolved configuration (`(await loadConfig()).values`): schema, tokens, scheduler mode. */
  config: ReproqConfig;
  /** Path prefix the routes live under (default "/reproq/"); "/" when the framework strips it (Express `app.use("/reproq", ...)`). */
  prefix?: string;
  /**
   * The application decides: called when the request carries no valid token or JWT. Return the
   * scope to grant, or null to refuse (401).
   */
  authorize?: (req: ManagerRequest) => Scope | null | Promise<Scope | null>;
  /**
   * Where the server listens. Only consulted when no credential is configured and there is no
   * hook: a loopback host then serves read-only without auth (with a warning); any other host,
   * or none given, is refused when the handler is created.
   */
  listenHost?: string;
  /** A stats document younger than this is served again (concurrent requests always share one read). Default 2000 ms; 0 reads every time. A full count is a scan of task_runs (about 300 ms at a million runs), so this bounds what polling dashboards cost. */
  statsMaxAgeMs?: number;
  /**
   * The client address the pairing rate limits count per. Default: the socket's remote address
   * (node), one shared bucket (fetch). Behind a reverse proxy, read your proxy's X-Forwarded-For.
   */
  clientAddress?: (req: ManagerRequest) => string;
  log?: Logger;
}

export interface ManagerHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** The same routes for fetch-style servers; a path outside the prefix answers 404. */
  fetch(request: Request): Promise<Response>;
}

const MAX_BODY_BYTES = 16 * 1024;
const UNAUTHORIZED: Reply = {
  status: 401,
  body: { error: "unauthorized" },
  headers: { "www-authenticate": 'Bearer realm="reproq"' },
};
const FORBIDDEN: Reply = { status: 403, body: { error: "forbidden" } };
const NOT_FOUND: Reply = { status: 404, body: { error: "not found" } };

export function createManagerHandler(options: ManagerHandlerOptions): ManagerHandler {
  const { pool, config, log } = options;
  const prefix = normalizePrefix(options.prefix ?? "/reproq/");
  const keys = tokenKeys(config);
  const bearer = config.metricsAuthToken ? tokenDigest(config.metricsAuthToken) : null;
  const credentials = bearer !== null || keys.verifying.length > 0 || options.authorize !== undefined;
  const openRead = !credentials && options.listenHost !== undefined && isLoopbackHost(options.listenHost);
  if (!credentials && !openRead)
    throw new ConfigError(
      `the manager API needs credentials off loopback${options.listenHost ? ` (host ${options.listenHost})` : ""}: set metricsAuthToken (METRICS_AUTH_TOKEN) or jwtSecret (REPROQ_JWT_SECRET), or pass an authorize hook`,
    );
  if (openRead)
    log?.warn(
      { host: options.listenHost },
      "THE MANAGER API HAS NO CREDENTIALS: anyone who can reach this loopback address may read stats; set metricsAuthToken or jwtSecret",
    );

  const readStats = cached(() => getManagerStats(pool, config.schema, config), options.statsMaxAgeMs ?? 2000);

  const grant = async (req: Incoming): Promise<Scope | null> => {
    const offered = bearerToken(req.header("authorization")) ?? req.header("x-reproq-token");
    if (offered !== undefined) {
      if (bearer && tokenMatches(offered, bearer)) return "admin";
      const scope = keys.verifying.length > 0 ? await verifyToken(keys, offered) : null;
      if (scope) return scope;
    }
    if (options.authorize) return options.authorize(req.raw);
    return openRead ? "read" : null;
  };

  const tui = tuiRoutes({
    pool,
    config,
    keys,
    bearer,
    prefix,
    grant,
    hook: options.authorize !== undefined,
    issue: (scope) => issueToken(keys, scope, config.jwtTtl),
  });

  const answer = async (req: Incoming): Promise<Reply> => {
    // The pairing routes are reached before any credential exists; each checks its own access.
    const open = tui(req.method, req.route);
    if (open) return open(req);
    const scope = await grant(req);
    if (scope === null) return UNAUTHORIZED;
    const route = match(req.method, req.route);
    if (route === null) return NOT_FOUND;
    if ("allow" in route)
      return { status: 405, body: { error: "method not allowed" }, headers: { allow: route.allow } };
    if (!covers(scope, route.needs)) return FORBIDDEN;
    // Every route that changes something refuses a browser's cross-site request: an application's
    // authorize hook may grant access from a cookie, which a form on another site would carry.
    if (req.method !== "GET" && req.method !== "HEAD" && crossSite(req))
      return { status: 403, body: { error: "cross-site request refused" } };
    return route.run(req);
  };

  const match = (
    method: string,
    route: string,
  ): { needs: Scope; run: (req: Incoming) => Promise<Reply> } | { allow: string } | null => {
    if (route === "stats") {
      if (method !== "GET" && method !== "HEAD") return { allow: "GET, HEAD" };
      return { needs: "read", run: async () => ({ status: 200, body: await readStats() }) };
    }
    const proxied = PROXIES[route];
    if (proxied) {
      if (method !== "GET" && method !== "HEAD") return { allow: "GET, HEAD" };
      return {
        needs: "read",
        run: (req) =>
          proxyToWorker(config, proxied, { lastEventId: req.header("last-event-id"), signal: req.signal }),
      };
    }
    const queue = /^queues\/([^/]+)\/(pause|resume)$/.exec(route);
    if (queue?.[1] && queue[2]) {
      if (method !== "POST") return { allow: "POST" };
      const encoded = queue[1];
      const action = queue[2];
      return {
        needs: "admin",
        run: async (req) => {
          const name = decodedSegment(encoded, "queue name");
          const control =
            action === "pause"
              ? await pauseQueueIn(pool, config.schema, name, reasonOf(await req.body()))
              : await resumeQueueIn(pool, config.schema, name);
          return { status: 200, body: control };
        },
      };
    }
    return null;
  };

  const safely = (req: Incoming): Promise<Reply> =>
    answer(req).catch((error: unknown) => {
      if (error instanceof InvalidInputError) return { status: 400, body: { error: error.message } };
      log?.warn({ err: error, route: req.route }, "manager API request failed");
      return { status: 500, body: { error: "internal error" } };
    });

  const node = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void => {
    const url = new URL(req.url ?? "/", "http://reproq.invalid");
    const route = routeOf(prefix, url.pathname);
    if (route === null) {
      if (next) next();
      else writeNode(res, NOT_FOUND, false);
      return;
    }
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const closed = new AbortController();
    res.once("close", () => closed.abort());
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    void safely({
      method: req.method ?? "GET",
      route,
      header,
      body: () => readNodeBody(req),
      raw: req,
      signal: closed.signal,
      query: url.searchParams,
      origin: `${encrypted ? "https" : "http"}://${header("host") ?? "localhost"}`,
      client: options.clientAddress?.(req) ?? req.socket.remoteAddress ?? "unknown",
    }).then((reply) => writeNode(res, reply, req.method === "HEAD"));
  };

  const fetchHandler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const route = routeOf(prefix, url.pathname);
    const reply =
      route === null
        ? NOT_FOUND
        : await safely({
            method: request.method,
            route,
            header: (name) => request.headers.get(name) ?? undefined,
            body: () => readFetchBody(request),
            raw: request,
            signal: request.signal,
            query: url.searchParams,
            origin: url.origin,
            client: options.clientAddress?.(request) ?? "fetch",
          });
    const { body, headers } = encode(reply);
    const head = request.method === "HEAD";
    if (head && typeof body !== "string") void body.cancel();
    return new Response(head ? null : body, { status: reply.status, headers });
  };

  return Object.assign(node, { fetch: fetchHandler });
}

/** "/reproq" and "reproq/" are "/reproq/"; "" and "/" are "/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "/" : `/${trimmed}/`;
}

/** The route under the prefix without a trailing slash, or null when the path is outside it. */
function routeOf(prefix: string, pathname: string): string | null {
  const path = pathname.endsWith("/") ? pathname : `${pathname}/`;
  if (!path.startsWith(prefix)) return null;
  return path.slice(prefix.length).replace(/\/+$/, "");
}

function reasonOf(body: unknown): string | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const reason = (body as { reason?: unknown }).reason;
  if (reason === undefined) return undefined;
  if (typeof reason !== "string") throw new InvalidInputError("reason: must be a string");
  return reason;
}

/** A path segment decoded, or InvalidInputError (400) for malformed percent-encoding. */
function decodedSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidInputError(`${what}: malformed percent-encoding in the path`);
  }
}

/**
 * A browser request from another site: Sec-Fetch-Site says so, or the Origin is not the host
 * asked. Requests without either header (curl, servers) are not browsers' cross-site requests.
 */
function crossSite(req: Incoming): boolean {
  const site = req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") return true;
  const origin = req.header("origin");
  if (origin === undefined || origin === "null") return origin === "null";
  try {
    return new URL(origin).host !== (req.header("host") ?? "");
  } catch {
    return true;
  }
}

function parseBody(text: string, contentType: string | null | undefined): unknown {
  if (contentType?.toLowerCase().startsWith("application/x-www-form-urlencoded"))
    return Object.fromEntries(new URLSearchParams(text));
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidInputError("the request body is not JSON");
  }
}

async function readNodeBody(req: IncomingMessage): Promise<unknown> {
  // A framework's body parser may have read the stream already (Express's express.json()).
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined) return parsed;
  return parseBody(await readLimited(req as AsyncIterable<Uint8Array>), req.headers["content-type"]);
}

async function readFetchBody(request: Request): Promise<unknown> {
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) throw bodyTooLarge();
  const text = request.body ? await readLimited(request.body as AsyncIterable<Uint8Array>) : "";
  return parseBody(text, request.headers.get("content-type"));
}

/**
 * A request body as text, read up to MAX_BODY_BYTES and no further: past the limit the iteration
 * stops, which cancels a fetch body's stream, so a large body is never read whole.
 */
async function readLimited(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw bodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function bodyTooLarge(): InvalidInputError {
  return new InvalidInputError(`the request body is over ${MAX_BODY_BYTES} bytes`);
}

const PROXIES: Partial<Record<string, ProxyKind>> = {
  "tui/metrics": "metrics",
  "tui/healthz": "health",
  "tui/events": "events",
};

function encode(reply: Reply): {
  body: string | ReadableStream<Uint8Array>;
  headers: Record<string, string>;
} {
  const raw = reply.raw;
  const body = raw ? raw.body : `${JSON.stringify(reply.body)}\n`;
  const streaming = typeof body !== "string";
  return {
    body,
    headers: {
      "content-type": raw ? raw.contentType : "application/json; charset=utf-8",
      "x-content-type-options": "nosniff",
      ...(streaming
        ? { "cache-control": "no-cache", "x-accel-buffering": "no" }
        : { "content-length": String(Buffer.byteLength(body)), "cache-control": "no-store" }),
      ...reply.headers,
    },
  };
}

function writeNode(res: ServerResponse, reply: Reply, head: boolean): void {
  const { body, headers } = encode(reply);
  res.writeHead(reply.status, headers);
  if (typeof body === "string") {
    res.end(head ? undefined : body);
    return;
  }
  if (head) {
    void body.cancel();
    res.end();
    return;
  }
  // Headers go out at once, then every upstream chunk as it arrives; either side closing ends both.
  res.flushHeaders();
  const stream = Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
  stream.on("error", () => res.destroy());
  res.once("close", () => stream.destroy());
  stream.pipe(res);
}

/** One read shared by concurrent callers, reused while younger than `maxAgeMs`. */
function cached(read: () => Promise<ManagerStats>, maxAgeMs: number): () => Promise<ManagerStats> {
  let at = Number.NEGATIVE_INFINITY;
  let last: ManagerStats | null = null;
  let pending: Promise<ManagerStats> | null = null;
  return () => {
    if (last !== null && Date.now() - at < maxAgeMs) return Promise.resolve(last);
    pending ??= read()
      .then((value) => {
        last = value;
        at = Date.now();
        return value;
      })
      .finally(() => {
        pending = null;
      });
    return pending;
  };
}
