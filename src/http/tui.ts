/**
 * The manager API's TUI routes that answer before the caller has a credential: `tui/config/`
 * (discovery), and device pairing — `tui/pair/` (a code), `tui/pair/<code>/` (polled for the
 * token, handed out once), `tui/login/` and `tui/authorize/` (the approval page, for admins only,
 * approve or deny by POST with a CSRF token). Pairing is on only when metricsAuthToken is set.
 * See docs/observability.md.
 */
import type { ReproqConfig } from "../config/schema.js";
import type { Queryable } from "../db/pool.js";
import { consumePairing, insertPairing, selectPairingStatus, settlePairing } from "../sql/tui-pairings.js";
import { bearerToken, isLoopbackHost, tokenMatches } from "./auth.js";
import type { Incoming, Reply } from "./manager-request.js";
import {
  approvePage,
  CODE_PATTERN,
  loginPage,
  MAX_ENTRIES,
  newCode,
  PAIR_TTL_MS,
  PairingKeys,
  parseCookies,
  RateLimiter,
  SESSION_TTL_MS,
  statusPage,
} from "./pairing.js";
import { type Scope, type TokenKeys, verifyToken } from "./tokens.js";

const SESSION_COOKIE = "reproq_tui_session";
const CSRF_COOKIE = "reproq_tui_csrf";
const DISABLED: Reply = { status: 404, body: { error: "tui auth disabled" } };
const HTML_HEADERS = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

export interface TuiDeps {
  pool: Queryable;
  config: ReproqConfig;
  keys: TokenKeys;
  /** The bearer token's digest, null when metricsAuthToken is unset (pairing off). */
  bearer: Buffer | null;
  prefix: string;
  /** Whether an authorize hook is configured (shown as the auth mode). */
  hook: boolean;
  /** The scope the request's header credentials or the hook grant. */
  grant(req: Incoming): Promise<Scope | null>;
  /** Issues the paired device's JWT. */
  issue(scope: Scope): Promise<{ token: string; expiresAt: Date }>;
}

/** The handler of an open route, or null for the routes that go through the access check. */
export function tuiRoutes(
  deps: TuiDeps,
): (method: string, route: string) => ((req: Incoming) => Promise<Reply>) | null {
  const { config, prefix, pool } = deps;
  const schema = config.schema;
  const pairing = config.metricsAuthToken ? new PairingKeys(config.metricsAuthToken) : null;
  const creating = new RateLimiter(10);
  const polling = new RateLimiter(60);
  const logins = new RateLimiter(10);
  const cookiePath = `${prefix}tui/`;
  const on = deps.bearer !== null && pairing !== null;

  const discovery = (req: Incoming) => {
    const base = `${req.origin}${prefix}`;
    const authMode = on ? "pairing" : deps.keys.verifying.length > 0 ? "jwt" : deps.hook ? "hook" : "none";
    const payload: Record<string, unknown> = { prefix, auth_mode: authMode };
    if (on) payload.pair_url = `${base}tui/pair/`;
    if (config.lowMemoryMode) payload.low_memory_mode = true;
    else if (config.workerMetricsUrl) {
      payload.worker_metrics_url = `${base}tui/metrics/`;
      payload.worker_health_url = `${base}tui/healthz/`;
      payload.events_url = `${base}tui/events/`;
    }
    return payload;
  };

  const limited = (limiter: RateLimiter, req: Incoming): Reply | null => {
    const taken = limiter.take(req.client);
    if (taken.ok) return null;
    return {
      status: 429,
      body: { error: "too many requests" },
      headers: { "retry-after": String(taken.retryAfterS) },
    };
  };

  const html = (status: number, body: string, headers: Record<string, string> = {}): Reply => ({
    status,
    raw: { contentType: "text/html; charset=utf-8", body },
    headers: { ...HTML_HEADERS, ...headers },
  });

  // Secure unless the page is served to a loopback address: behind a TLS-terminating proxy the
  // socket is plain HTTP, and the session cookie is an admin credential.
  const cookie = (name: string, value: string, req: Incoming, maxAgeS: number) =>
    `${name}=${value}; Path=${cookiePath}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${
      req.origin.startsWith("https:") || !servedToLoopback(req.header("host")) ? "; Secure" : ""
    }`;

  /**
   * The approver's scope, and whether it may hand out admin tokens: a login session (opened with
   * the bearer token), the bearer token in a header, or the application's hook may; an admin JWT
   * approves read tokens only, so a short-lived JWT cannot be traded for a fresh, longer one.
   */
  const approver = async (req: Incoming): Promise<{ scope: Scope; grantsAdmin: boolean } | null> => {
    if (pairing?.hasSession(parseCookies(req.header("cookie")).get(SESSION_COOKIE)))
      return { scope: "admin", grantsAdmin: true };
    const scope = await deps.grant(req);
    if (scope === null) return null;
    const offered = bearerToken(req.header("authorization")) ?? req.header("x-reproq-token");
    const byJwt = offered !== undefined && !(deps.bearer && tokenMatches(offered, deps.bearer));
    return { scope, grantsAdmin: !byJwt };
  };

  const createPair = async (req: Incoming): Promise<Reply> => {
    const refused = limited(creating, req);
    if (refused) return refused;
    let code = newCode();
    let made = await insertPairing(pool, schema, code, PAIR_TTL_MS, MAX_ENTRIES);
    for (let tries = 0; made === "taken" && tries < 5; tries++) {
      code = newCode();
      made = await insertPairing(pool, schema, code, PAIR_TTL_MS, MAX_ENTRIES);
    }
    if (typeof made === "string")
      return { status: 429, body: { error: "too many pairing codes outstanding" } };
    const pair = { code, expiresAt: made.expiresAt };
    return {
      status: 200,
      body: {
        ...discovery(req),
        code: pair.code,
        verify_url: `${req.origin}${prefix}tui/authorize/?code=${pair.code}`,
        expires_at: pair.expiresAt.toISOString(),
      },
    };
  };

  const pollPair = async (req: Incoming, code: string): Promise<Reply> => {
    const refused = limited(polling, req);
    if (refused) return refused;
    const polled = CODE_PATTERN.test(code)
      ? await consumePairing(pool, schema, code)
      : { status: "expired" as const };
    if (polled.status === "approved") {
      // Issued at pickup, once: the token is never stored anywhere.
      const issued = await deps.issue(polled.scope);
      return {
        status: 200,
        body: { status: "approved", token: issued.token, expires_at: issued.expiresAt.toISOString() },
      };
    }
    const gone = polled.status === "expired" || polled.status === "consumed";
    return { status: gone ? 404 : 200, body: { status: polled.status } };
  };

  const formOf = async (req: Incoming): Promise<Record<string, unknown>> => {
    const body = await req.body();
    return body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {};
  };
  const codeIn = (value: unknown) => (typeof value === "string" && CODE_PATTERN.test(value) ? value : "");

  const login = async (req: Incoming): Promise<Reply> => {
    if (req.method === "GET")
      return html(200, loginPage(`${prefix}tui/login/`, codeIn(req.query.get("code"))));
    const refused = limited(logins, req);
    if (refused) return refused;
    const form = await formOf(req);
    const code = codeIn(form.code);
    const offered = typeof form.token === "string" ? form.token.trim() : "";
    // Only the bearer token opens a session: a session may approve admin tokens (see approver).
    const isBearer = offered !== "" && deps.bearer !== null && tokenMatches(offered, deps.bearer);
    if (!isBearer && offered !== "" && (await verifyToken(deps.keys, offered)) !== null)
      return html(403, statusPage("forbidden"));
    if (!isBearer) return html(401, loginPage(`${prefix}tui/login/`, code, "That is not the bearer token."));
    if (!pairing) return DISABLED;
    const session = pairing.openSession();
    const location = `${prefix}tui/authorize/?code=${code}`;
    return {
      status: 303,
      body: { location },
      headers: { location, "set-cookie": cookie(SESSION_COOKIE, session, req, SESSION_TTL_MS / 1000) },
    };
  };

  const authorize = async (req: Incoming): Promise<Reply> => {
    const form = req.method === "POST" ? await formOf(req) : {};
    const code = codeIn(req.method === "POST" ? form.code : req.query.get("code"));
    const who = await approver(req);
    if (who === null) return html(401, loginPage(`${prefix}tui/login/`, code));
    if (who.scope !== "admin" || !pairing) return html(403, statusPage("forbidden"));
    const status = code ? await selectPairingStatus(pool, schema, code) : undefined;
    if (status === undefined) return html(404, statusPage("expired"));
    const csrfCookie = parseCookies(req.header("cookie")).get(CSRF_COOKIE);
    if (req.method === "GET") {
      if (status !== "pending") return html(200, statusPage(status));
      const browser = csrfCookie && /^[\w-]{16,64}$/.test(csrfCookie) ? csrfCookie : newCsrfCookie();
      const page = approvePage(`${prefix}tui/authorize/`, code, pairing.csrfToken(code, browser));
      return html(
        200,
        page,
        browser === csrfCookie ? {} : { "set-cookie": cookie(CSRF_COOKIE, browser, req, 3600) },
      );
    }
    if (!pairing.csrfMatches(code, csrfCookie, form.csrf)) return html(403, statusPage("csrf"));
    if (status !== "pending") return html(409, statusPage(status));
    if (form.action !== "approve" && form.action !== "deny")
      return { status: 400, body: { error: 'action: must be "approve" or "deny"' } };
    if (form.action === "approve" && form.scope === "admin" && !who.grantsAdmin)
      return html(403, statusPage("forbidden"));
    const outcome = form.action === "deny" ? "denied" : form.scope === "admin" ? "admin" : "read";
    if (!(await settlePairing(pool, schema, code, outcome)))
      return html(409, statusPage((await selectPairingStatus(pool, schema, code)) ?? "expired"));
    return html(200, statusPage(outcome === "denied" ? "denied" : "approved"));
  };

  const methods = (allowed: string, method: string, run: (req: Incoming) => Promise<Reply>) =>
    allowed.split(", ").includes(method)
      ? run
      : async (): Promise<Reply> => ({
          status: 405,
          body: { error: "method not allowed" },
          headers: { allow: allowed },
        });

  return (method, route) => {
    if (route === "tui/config")
      return methods("GET, HEAD", method, async (req) => ({ status: 200, body: discovery(req) }));
    if (!/^tui\/(pair|login|authorize)(\/|$)/.test(route)) return null;
    if (!on) return async () => DISABLED;
    if (route === "tui/pair") return methods("GET, POST", method, createPair);
    const poll = /^tui\/pair\/([^/]+)$/.exec(route);
    if (poll?.[1]) {
      const code = poll[1].toUpperCase();
      return methods("GET", method, (req) => pollPair(req, code));
    }
    if (route === "tui/login") return methods("GET, POST", method, login);
    if (route === "tui/authorize") return methods("GET, POST", method, authorize);
    return async () => ({ status: 404, body: { error: "not found" } });
  };
}

/** Whether a Host header (`name:port`, `[::1]:port`) names a loopback host. */
function servedToLoopback(host: string | undefined): boolean {
  return isLoopbackHost((host ?? "").replace(/:\d+$/, "").toLowerCase());
}

function newCsrfCookie(): string {
  return globalThis.crypto.randomUUID().replaceAll("-", "");
}
