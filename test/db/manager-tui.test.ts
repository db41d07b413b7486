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
import { issueToken, tokenKeys, verifyToken } from "../../src/http/tokens.js";
import { createManagerHandler, loadConfig, type ManagerHandlerOptions, task } from "../../src/index.js";
import { get, httpSurface, SseReader, sample } from "../support/http.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";
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

async function startHttpWorker(config: Record<string, unknown> = {}) {
  const surface = httpSurface();
  const running = await startWorker(
    { queues: ["tui-q"], metricsAddr: "127.0.0.1:0", metricsAuthToken: TOKEN, ...config },
    { surfaces: [surface.surface] },
  );
  return { worker: running, server: surface.server() };
}

async function worker(config: Record<string, unknown> = {}): Promise<string> {
  return (await startHttpWorker(config)).server.url;
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

  it("end the event stream when either side closes", async () => {
    const upstream = await startHttpWorker();
    const url = await manager({ workerMetricsUrl: upstream.server.url });
    const read = auth(await readToken());
    const events = () => upstream.server.events?.clients ?? -1;

    const leaving = new SseReader(`${url}/tui/events/`, read);
    await leaving.until((r) => r.opened);
    await eventually(() => events() === 1);
    leaving.close();
    // The client went away: the manager drops its upstream stream too.
    await eventually(() => events() === 0);

    const staying = new SseReader(`${url}/tui/events/`, read);
    await staying.until((r) => r.opened);
    await upstream.worker.stop({ timeout: 0 });
    // The worker went away: the manager ends the client's stream, after relaying the last state.
    await staying.until((r) => r.ended);
    expect(staying.events("state").map((e) => e.json.state)).toContain("stopped");
  });

  it("stream through the fetch twin too", async () => {
    const upstream = await worker({ eventsHeartbeatInterval: "100ms" });
    const handler = createManagerHandler({
      pool: ctx.db.pool,
      config: { ...DEFAULTS, metricsAuthToken: TOKEN, workerMetricsUrl: upstream },
    });
    const read = auth(await readToken());
    const metrics = await handler.fetch(
      new Request("http://manager.test/reproq/tui/metrics/", { headers: read }),
    );
    expect(metrics.status).toBe(200);
    expect(sample(await metrics.text(), "reproq_runs_in_flight")).toBe(0);
    const events = await handler.fetch(
      new Request("http://manager.test/reproq/tui/events/", { headers: read }),
    );
    expect(events.status).toBe(200);
    expect(events.headers.get("content-type")).toContain("text/event-stream");
    expect(events.headers.get("x-accel-buffering")).toBe("no");
    const reader = events.body?.getReader();
    let text = "";
    while (!text.includes(": ping")) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toContain(": ping");
    await reader?.cancel();
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

interface Pair {
  code: string;
  verify_url: string;
  expires_at: string;
  [key: string]: unknown;
}

async function pair(url: string): Promise<Pair> {
  const res = await fetch(`${url}/tui/pair/`, { method: "POST" });
  expect(res.status).toBe(200);
  return (await res.json()) as Pair;
}

async function poll(url: string, code: string) {
  const res = await fetch(`${url}/tui/pair/${code}/`);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const cookieOf = (res: Response) => (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";

/** Opens the approval page as `headers` (a bearer or a session cookie); its CSRF token and cookie. */
async function approvalPage(url: string, code: string, headers: Record<string, string>) {
  const res = await fetch(`${url}/tui/authorize/?code=${code}`, { headers });
  const html = await res.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  return { status: res.status, html, csrf, cookie: cookieOf(res), res };
}

function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

describe("tui/config/", () => {
  it("names the proxies as the manager serves them, the prefix and the auth mode, without credentials", async () => {
    const url = await manager({ workerMetricsUrl: "http://127.0.0.1:9464" });
    const res = await get(`${url}/tui/config/`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      prefix: "/reproq/",
      auth_mode: "pairing",
      pair_url: `${url}/tui/pair/`,
      worker_metrics_url: `${url}/tui/metrics/`,
      worker_health_url: `${url}/tui/healthz/`,
      events_url: `${url}/tui/events/`,
    });
    const low = await manager({ workerMetricsUrl: "http://127.0.0.1:9464", lowMemoryMode: true });
    expect(JSON.parse((await get(`${low}/tui/config/`)).body)).toEqual({
      prefix: "/reproq/",
      auth_mode: "pairing",
      pair_url: `${low}/tui/pair/`,
      low_memory_mode: true,
    });
  });
});

describe("device pairing", () => {
  it("pairs end to end through the login form: pending, approved once with a token that verifies, then refused", async () => {
    const url = await manager({ workerMetricsUrl: "http://127.0.0.1:9464" });
    const created = await pair(url);
    expect(created.code).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$/);
    expect(created.verify_url).toBe(`${url}/tui/authorize/?code=${created.code}`);
    expect(Date.parse(created.expires_at) - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(created.worker_metrics_url).toBe(`${url}/tui/metrics/`);
    expect(await poll(url, created.code)).toEqual({ status: 200, json: { status: "pending" } });

    // No credential: the approval page is a login form.
    const anonymous = await approvalPage(url, created.code, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.html).toContain('name="token"');
    expect(anonymous.csrf).toBeUndefined();

    const wrong = await post(`${url}/tui/login/`, { token: "guess", code: created.code });
    expect(wrong.status).toBe(401);
    const login = await post(`${url}/tui/login/`, { token: TOKEN, code: created.code });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe(`/reproq/tui/authorize/?code=${created.code}`);
    const setCookie = login.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const session = cookieOf(login);

    const page = await approvalPage(url, created.code, { cookie: session });
    expect(page.status).toBe(200);
    expect(page.res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.html).toContain(created.code);
    const approved = await post(
      `${url}/tui/authorize/`,
      { code: created.code, csrf: page.csrf ?? "", action: "approve", scope: "read" },
      { cookie: `${session}; ${page.cookie}` },
    );
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain("Approved");

    const handed = await poll(url, created.code);
    expect(handed.status).toBe(200);
    expect(handed.json.status).toBe("approved");
    const token = handed.json.token as string;
    expect(await verifyToken(KEYS, token)).toBe("read");
    expect(Date.parse(handed.json.expires_at as string) - Date.now()).toBeLessThanOrEqual(DEFAULTS.jwtTtl);
    expect((await get(`${url}/stats/`, auth(token))).status).toBe(200);
    // The token is handed out once.
    expect(await poll(url, created.code)).toEqual({ status: 404, json: { status: "consumed" } });
  });

  it("lets a bearer-token approver grant admin, and marks a denied code denied", async () => {
    const url = await manager();
    const admin = auth(TOKEN);
    const first = await pair(url);
    const page = await approvalPage(url, first.code, admin);
    const ok = await post(
      `${url}/tui/authorize/`,
      { code: first.code, csrf: page.csrf ?? "", action: "approve", scope: "admin" },
      { ...admin, cookie: page.cookie },
    );
    expect(ok.status).toBe(200);
    const handed = await poll(url, first.code);
    expect(await verifyToken(KEYS, handed.json.token as string)).toBe("admin");

    const second = await pair(url);
    const again = await approvalPage(url, second.code, admin);
    const denied = await post(
      `${url}/tui/authorize/`,
      { code: second.code, csrf: again.csrf ?? "", action: "deny" },
      { ...admin, cookie: again.cookie },
    );
    expect(denied.status).toBe(200);
    expect(await poll(url, second.code)).toEqual({ status: 200, json: { status: "denied" } });
    // A settled code cannot be approved afterwards.
    const late = await post(
      `${url}/tui/authorize/`,
      { code: second.code, csrf: again.csrf ?? "", action: "approve" },
      { ...admin, cookie: again.cookie },
    );
    expect(late.status).toBe(409);
  });

  it("works across manager processes: a code made by one is approved through a second and picked up from a third", async () => {
    const [one, two, three] = [await manager(), await manager(), await manager()];
    const { code } = await pair(one ?? "");
    const login = await post(`${two}/tui/login/`, { token: TOKEN, code });
    const session = cookieOf(login);
    const page = await approvalPage(three ?? "", code, { cookie: session });
    const approved = await post(
      `${one}/tui/authorize/`,
      { code, csrf: page.csrf ?? "", action: "approve" },
      { cookie: `${session}; ${page.cookie}` },
    );
    expect(approved.status).toBe(200);
    const picked = await Promise.all([poll(two ?? "", code), poll(three ?? "", code)]);
    // Two concurrent polls: exactly one gets the token.
    expect(picked.map((p) => p.json.status).sort()).toEqual(["approved", "consumed"]);
    const { rows } = await ctx.db.pool.query("SELECT * FROM reproq.tui_pairings WHERE code = $1", [code]);
    expect(rows[0]).toMatchObject({ status: "consumed", scope: "read" });
    expect(JSON.stringify(rows[0])).not.toMatch(/eyJ/);
  });

  it("refuses an approval without the CSRF token, with another page's token, or from a non-admin", async () => {
    const url = await manager();
    const admin = auth(TOKEN);
    const { code } = await pair(url);
    const other = await pair(url);
    const page = await approvalPage(url, code, admin);
    const otherPage = await approvalPage(url, other.code, { ...admin, cookie: page.cookie });
    const attempts: Array<[Record<string, string>, Record<string, string>]> = [
      [
        { code, action: "approve" },
        { ...admin, cookie: page.cookie },
      ],
      [{ code, action: "approve", csrf: page.csrf ?? "" }, admin],
      [
        { code, action: "approve", csrf: otherPage.csrf ?? "" },
        { ...admin, cookie: page.cookie },
      ],
    ];
    for (const [form, headers] of attempts)
      expect((await post(`${url}/tui/authorize/`, form, headers)).status).toBe(403);

    const read = auth(await readToken());
    expect((await approvalPage(url, code, read)).status).toBe(403);
    const asReader = await post(
      `${url}/tui/authorize/`,
      { code, action: "approve", csrf: page.csrf ?? "" },
      { ...read, cookie: page.cookie },
    );
    expect(asReader.status).toBe(403);
    expect((await post(`${url}/tui/login/`, { token: await readToken(), code })).status).toBe(403);
    expect(await poll(url, code)).toEqual({ status: 200, json: { status: "pending" } });
  });

  it("answers 404 expired for an unknown code and for one past its 10 minutes", async () => {
    const url = await manager();
    expect(await poll(url, "ABCDEFGH")).toEqual({ status: 404, json: { status: "expired" } });
    expect(await poll(url, "not-a-code")).toEqual({ status: 404, json: { status: "expired" } });
    const { code } = await pair(url);
    expect(await poll(url, code)).toEqual({ status: 200, json: { status: "pending" } });
    await ctx.db.pool.query(
      "UPDATE reproq.tui_pairings SET expires_at = now() - interval '1 second' WHERE code = $1",
      [code],
    );
    expect(await poll(url, code)).toEqual({ status: 404, json: { status: "expired" } });
    expect((await approvalPage(url, code, auth(TOKEN))).status).toBe(404);
  });

  it("rate-limits code creation and polling per client with 429 and Retry-After", async () => {
    const url = await manager();
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) codes.push((await pair(url)).code);
    const refused = await fetch(`${url}/tui/pair/`, { method: "POST" });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) statuses.push((await poll(url, codes[0] ?? "")).status);
    expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
    expect(statuses[60]).toBe(429);
  });

  it("is off without a bearer token: every pairing route answers 404 tui auth disabled", async () => {
    const url = await manager({ metricsAuthToken: undefined, jwtSecret: "tui-jwt-secret-0123456789" });
    for (const route of ["tui/pair/", "tui/pair/ABCDEFGH/", "tui/authorize/?code=ABCDEFGH", "tui/login/"]) {
      const res = await get(`${url}/${route}`);
      expect([route, res.status, JSON.parse(res.body)]).toEqual([route, 404, { error: "tui auth disabled" }]);
    }
    expect(JSON.parse((await get(`${url}/tui/config/`)).body)).toEqual({
      prefix: "/reproq/",
      auth_mode: "jwt",
    });
  });
});

describe("hardening found in review", () => {
  it("an admin JWT approves read tokens only, so a short JWT cannot be traded for a fresh admin one", async () => {
    const url = await manager();
    const shortAdmin = auth((await issueToken(KEYS, "admin", 60_000)).token);
    const created = await pair(url);
    const page = await approvalPage(url, created.code, shortAdmin);
    expect(page.status).toBe(200);
    const asAdmin = await post(
      `${url}/tui/authorize/`,
      { code: created.code, csrf: page.csrf ?? "", action: "approve", scope: "admin" },
      { ...shortAdmin, cookie: page.cookie },
    );
    expect(asAdmin.status).toBe(403);
    const asRead = await post(
      `${url}/tui/authorize/`,
      { code: created.code, csrf: page.csrf ?? "", action: "approve", scope: "read" },
      { ...shortAdmin, cookie: page.cookie },
    );
    expect(asRead.status).toBe(200);
    expect(await verifyToken(KEYS, (await poll(url, created.code)).json.token as string)).toBe("read");
    // The sign-in form takes the bearer token only.
    const login = await post(`${url}/tui/login/`, {
      code: created.code,
      token: shortAdmin.authorization.slice(7),
    });
    expect(login.status).toBe(403);
  });

  it("sets the session cookie Secure unless the page is served to a loopback host", async () => {
    const url = await manager();
    const created = await pair(url);
    const local = await post(`${url}/tui/login/`, { code: created.code, token: TOKEN });
    expect(local.status).toBe(303);
    expect(local.headers.get("set-cookie")).not.toContain("Secure");
    const proxied = await new Promise<string>((resolve, reject) => {
      const body = new URLSearchParams({ code: created.code, token: TOKEN }).toString();
      const req = http.request(
        `${url}/tui/login/`,
        {
          method: "POST",
          headers: { host: "tasks.example.com", "content-type": "application/x-www-form-urlencoded" },
        },
        (res) => {
          res.resume();
          resolve(String(res.headers["set-cookie"] ?? ""));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(proxied).toContain("; Secure");
  });

  it("refuses a cross-site pause granted by the application's hook, and malformed paths with 400", async () => {
    const url = await manager({}, { authorize: () => "admin" });
    const crossSite = await fetch(`${url}/queues/hook-q/pause`, {
      method: "POST",
      headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await fetch(`${url}/queues/hook-q/resume`, {
      method: "POST",
      headers: { origin: url.replace(/\/reproq$/, ""), "sec-fetch-site": "same-origin" },
    });
    expect(sameOrigin.status).toBe(200);
    const malformed = await fetch(`${url}/queues/%E0/pause`, { method: "POST", headers: auth(TOKEN) });
    expect(malformed.status).toBe(400);
  });

  it("serves proxied pages with its own content type and nosniff, and never names the worker's credentials", async () => {
    const workerUrl = await worker();
    const url = await manager({ workerMetricsUrl: workerUrl });
    const metrics = await get(`${url}/tui/metrics/`, auth(TOKEN));
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(metrics.headers.get("x-content-type-options")).toBe("nosniff");
    const down = await manager({ workerMetricsUrl: `http://user:hunter2@127.0.0.1:${await deadPort()}` });
    const failed = await get(`${down}/tui/healthz/`, auth(TOKEN));
    expect(failed.status).toBe(502);
    expect(failed.body).not.toContain("hunter2");
  });

  it("reads at most the body limit of a streamed request through the fetch handler", async () => {
    const handler = createManagerHandler({
      pool: ctx.db.pool,
      config: { ...DEFAULTS, metricsAuthToken: TOKEN },
    });
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const res = await handler.fetch(
      new Request("http://127.0.0.1/reproq/queues/big/pause", {
        method: "POST",
        headers: auth(TOKEN),
        body: stream,
        duplex: "half",
      } as RequestInit),
    );
    expect(res.status).toBe(400);
    expect(pulled).toBeLessThan(10);
  });
});
