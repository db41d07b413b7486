/**
 * The manager API against a real database: the stats document's shape for runs made here, every
 * refusal (no token, wrong token, expired JWT, wrong audience, wrong signature, a JWT signed with
 * the bearer token itself, read scope on an admin route), rotation, the hook, the startup rule,
 * the handler mounted under a custom prefix in node:http and through fetch, and `reproq serve` +
 * `reproq token` as real processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReproqConfig } from "../../src/config/schema.js";
import { deriveJwtKey, issueToken, tokenKeys } from "../../src/http/tokens.js";
import {
  createManagerHandler,
  loadConfig,
  type ManagerHandlerOptions,
  pauseQueue,
  task,
  upsertSchedule,
} from "../../src/index.js";
import { BIN, cleanEnv, runCli } from "../support/cli.js";
import { createEmptyDatabase, dropTestDatabase } from "../support/db.js";
import { useReproq } from "../support/reproq.js";
import { eventually } from "../support/wait.js";

const ctx = useReproq();

const TOKEN = "manager-bearer-token";
const JWT_SECRET = "manager-jwt-secret-0123456789";
const OLD_SECRET = "manager-old-secret-0123456789";
const nightly = task("mgr.nightly", { queue: "maintenance" }, () => 0);

/** The defaults, as loadConfig resolves them with no file and no environment. */
let CONFIG: ReproqConfig;

const utf8 = (text: string) => new TextEncoder().encode(text);
const servers: http.Server[] = [];

/** A node:http server with the handler mounted under `prefix`; answers 418 for anything it passes on. */
async function mount(
  options: Omit<Partial<ManagerHandlerOptions>, "config"> & { config?: Partial<ReproqConfig> } = {},
) {
  const handler = createManagerHandler({
    pool: ctx.db.pool,
    prefix: "/ops/manager/",
    statsMaxAgeMs: 0,
    ...options,
    config: { ...CONFIG, metricsAuthToken: TOKEN, ...options.config },
  });
  const server = http.createServer((req, res) =>
    handler(req, res, () => {
      res.writeHead(418).end("next");
    }),
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/ops/manager`, handler };
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null, res };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function jwt(key: Uint8Array, claims: Record<string, unknown> = {}, expIn = 600): Promise<string> {
  return new SignJWT({ scope: "read", iss: "reproq", aud: "reproq-api", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expIn)
    .sign(key);
}

let runNo = 0;
/** Inserts runs straight into task_runs, shaped like the rows enqueue() and a worker write. */
async function insertRuns(queue: string, taskPath: string, status: string, count: number): Promise<void> {
  const done = !["READY", "WAITING", "RUNNING"].includes(status);
  for (let i = 0; i < count; i++) {
    const hash = randomBytes(32).toString("hex");
    runNo++;
    await ctx.db.pool.query(
      `INSERT INTO reproq.task_runs (queue_name, spec_json, spec_hash, task_path, status, finished_at,
                                     leased_by, leased_until, lease_token)
       VALUES ($1, jsonb_build_object('n', $5::int), $2, $3, $4, CASE WHEN $6 THEN now() END,
               CASE WHEN $4 = 'RUNNING' THEN 'w-1' END, CASE WHEN $4 = 'RUNNING' THEN now() + interval '1 minute' END,
               CASE WHEN $4 = 'RUNNING' THEN gen_random_uuid() END)`,
      [queue, hash, taskPath, status, runNo, done],
    );
  }
}

beforeAll(async () => {
  CONFIG = (await loadConfig({ cwd: tmpdir(), env: {} })).values;
  await insertRuns("default", "app.ok", "SUCCESSFUL", 3);
  await insertRuns("default", "app.ok", "READY", 2);
  await insertRuns("bulk-1", "app.bulk", "READY", 1);
  await insertRuns("bulk-1", "app.bulk", "RUNNING", 1);
  await insertRuns("default", "app.flaky", "FAILED", 4);
  await insertRuns("bulk-1", "app.broken", "FAILED", 1);
  await ctx.db.pool.query(
    `INSERT INTO reproq.workers (worker_id, hostname, pid, version, queues, concurrency, last_seen_at)
     VALUES ('w-1', 'host-a', 42, '0.1.0', '{default,bulk-1}', 8, now()),
            ('w-old', 'host-b', 43, '0.1.0', '{default}', 2, now() - interval '10 minutes')`,
  );
  await pauseQueue("slow", { reason: "provider outage" });
  await upsertSchedule({ name: "nightly-cleanup", cron: "0 2 * * *", task: nightly });
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe("GET stats/", () => {
  it("answers the seed's JSON shape for the runs, workers, schedules and pauses made here", async () => {
    const { url } = await mount();
    const { status, json, res } = await call(`${url}/stats/`, { headers: bearer(TOKEN) });
    expect(status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(json?.tasks).toEqual({ READY: 3, RUNNING: 1, SUCCESSFUL: 3, FAILED: 5 });
    expect(json?.queues).toEqual({
      default: { READY: 2, SUCCESSFUL: 3, FAILED: 4 },
      "bulk-1": { READY: 1, RUNNING: 1, FAILED: 1 },
    });
    const workers = json?.workers as Array<Record<string, unknown>>;
    expect(workers.map((w) => w.worker_id)).toEqual(["w-1", "w-old"]);
    expect(workers[0]).toEqual({
      worker_id: "w-1",
      hostname: "host-a",
      concurrency: 8,
      queues: ["default", "bulk-1"],
      last_seen_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      version: "0.1.0",
      database: "default",
    });
    expect(json?.worker_health).toEqual({ alive: 1, dead: 1 });
    expect(json?.periodic).toEqual([
      {
        name: "nightly-cleanup",
        cron_expr: "0 2 * * *",
        enabled: true,
        next_run_at: expect.stringMatching(/T02:00:00\.000Z$/),
        queue_name: "maintenance",
        database: "default",
      },
    ]);
    expect(json?.queue_controls).toEqual([
      {
        queue_name: "slow",
        paused: true,
        paused_at: expect.any(String),
        reason: "provider outage",
        updated_at: expect.any(String),
        database: "default",
      },
    ]);
    expect(json?.scheduler).toEqual({
      mode: "beat",
      low_memory: false,
      beat_enabled: true,
      beat_configured: true,
      pg_cron_available: expect.any(Boolean),
    });
    expect(json?.top_failing).toEqual([
      { task_path: "app.flaky", count: 4 },
      { task_path: "app.broken", count: 1 },
    ]);
    const databases = json?.databases as Array<{
      alias: string;
      tasks: unknown;
      queues: unknown;
      workers: Array<Record<string, unknown>>;
      periodic: Array<Record<string, unknown>>;
    }>;
    expect(databases).toHaveLength(1);
    const [only] = databases;
    expect(only?.alias).toBe("default");
    expect(only?.tasks).toEqual(json?.tasks);
    expect(only?.queues).toEqual(json?.queues);
    expect(only?.workers[0]).not.toHaveProperty("database");
    expect(only?.periodic[0]?.name).toBe("nightly-cleanup");
  });

  it("reports pg_cron mode without the extension as disabled, with a warning", async () => {
    const { url } = await mount({ config: { schedulerMode: "pg_cron" } });
    const { json } = await call(`${url}/stats`, { headers: { "x-reproq-token": TOKEN } });
    const scheduler = json?.scheduler as Record<string, unknown>;
    expect(scheduler.beat_configured).toBe(false);
    expect(scheduler.beat_enabled).toBe(false);
    if (scheduler.pg_cron_available) expect(scheduler.mode).toBe("pg_cron");
    else expect(scheduler).toMatchObject({ mode: "disabled", warning: expect.stringContaining("pg_cron") });
  });
});

describe("access", () => {
  it("refuses without a token, with a wrong one, and with bad JWTs: 401 and nothing else", async () => {
    const { url } = await mount({ config: { jwtSecret: JWT_SECRET } });
    const stats = `${url}/stats/`;
    const key = utf8(JWT_SECRET);
    const refused: Array<Record<string, string>> = [
      {},
      bearer("wrong-token"),
      { "x-reproq-token": "wrong-token" },
      bearer(await jwt(key, {}, -120)), // expired
      bearer(await jwt(key, { aud: "reproq-tui" })), // another audience
      bearer(await jwt(utf8("some-other-secret-0123456789"))), // another key
      bearer(await jwt(utf8(TOKEN))), // signed with the bearer token itself
      bearer(await jwt(deriveJwtKey(TOKEN))), // the derived key is not used once jwtSecret is set
    ];
    for (const headers of refused) {
      const { status, json, res } = await call(stats, { headers });
      expect(status).toBe(401);
      expect(json).toEqual({ error: "unauthorized" });
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
    // An unknown route is refused the same way before it is looked at.
    expect((await call(`${url}/nowhere/`)).status).toBe(401);
  });

  it("grants read to a read JWT, 403 on the admin route; admin JWTs and the bearer token pause", async () => {
    const keys = tokenKeys({ metricsAuthToken: TOKEN });
    const { url } = await mount();
    const read = (await issueToken(keys, "read", 60_000)).token;
    const admin = (await issueToken(keys, "admin", 60_000)).token;
    expect((await call(`${url}/stats/`, { headers: bearer(read) })).status).toBe(200);
    const pause = `${url}/queues/emails/pause/`;
    const denied = await call(pause, { method: "POST", headers: bearer(read) });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ error: "forbidden" });

    const paused = await call(pause, {
      method: "POST",
      headers: { ...bearer(admin), "content-type": "application/json" },
      body: JSON.stringify({ reason: "maintenance" }),
    });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ queue: "emails", paused: true, reason: "maintenance" });
    const resumed = await call(`${url}/queues/emails/resume`, { method: "POST", headers: bearer(TOKEN) });
    expect(resumed.json).toMatchObject({ queue: "emails", paused: false });
    const { rows } = await ctx.db.pool.query(
      "SELECT paused FROM reproq.queue_controls WHERE queue_name = 'emails'",
    );
    expect(rows[0]?.paused).toBe(false);
    expect((await call(pause, { headers: bearer(TOKEN) })).status).toBe(405);
  });

  it("accepts a JWT signed with a previous secret, for rotation", async () => {
    const { url } = await mount({ config: { jwtSecret: JWT_SECRET, jwtPreviousSecrets: [OLD_SECRET] } });
    const { status } = await call(`${url}/stats/`, { headers: bearer(await jwt(utf8(OLD_SECRET))) });
    expect(status).toBe(200);
  });

  it("lets the application's hook decide when no token is valid", async () => {
    const { url } = await mount({
      config: { metricsAuthToken: undefined },
      authorize: (req) =>
        "headers" in req && !(req instanceof Request) && req.headers.cookie === "staff=1" ? "read" : null,
    });
    expect((await call(`${url}/stats/`, { headers: { cookie: "staff=1" } })).status).toBe(200);
    expect((await call(`${url}/stats/`)).status).toBe(401);
    expect(
      (await call(`${url}/queues/x/pause`, { method: "POST", headers: { cookie: "staff=1" } })).status,
    ).toBe(403);
  });

  it("without credentials: refuses to start off loopback, serves read-only on loopback", async () => {
    const open = { ...CONFIG, metricsAuthToken: undefined };
    expect(() => createManagerHandler({ pool: ctx.db.pool, config: open, listenHost: "0.0.0.0" })).toThrow(
      /needs credentials/,
    );
    expect(() => createManagerHandler({ pool: ctx.db.pool, config: open })).toThrow(/needs credentials/);
    const { url } = await mount({ config: { metricsAuthToken: undefined }, listenHost: "127.0.0.1" });
    expect((await call(`${url}/stats/`)).status).toBe(200);
    expect((await call(`${url}/queues/x/pause`, { method: "POST" })).status).toBe(403);
  });
});

describe("mounting", () => {
  it("serves only under its prefix in node:http and hands other paths to next()", async () => {
    const { url } = await mount();
    const origin = new URL(url).origin;
    const outside = await fetch(`${origin}/reproq/stats/`, { headers: bearer(TOKEN) });
    expect(outside.status).toBe(418);
    expect((await call(`${url}/stats/?x=1`, { headers: bearer(TOKEN) })).status).toBe(200);
  });

  it("answers the same through fetch(Request)", async () => {
    const handler = createManagerHandler({
      pool: ctx.db.pool,
      config: { ...CONFIG, metricsAuthToken: TOKEN },
    });
    const ok = await handler.fetch(new Request("http://app.test/reproq/stats/", { headers: bearer(TOKEN) }));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { tasks: unknown }).tasks).toMatchObject({ FAILED: 5 });
    expect((await handler.fetch(new Request("http://app.test/reproq/stats/"))).status).toBe(401);
    expect((await handler.fetch(new Request("http://app.test/elsewhere"))).status).toBe(404);
  });
});

describe("reproq serve and reproq token", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGTERM");
  });

  it("serve listens under --prefix and answers a JWT printed by reproq token", async () => {
    const env = { METRICS_AUTH_TOKEN: TOKEN };
    child = spawn(
      process.execPath,
      [BIN, "--dsn", ctx.db.url, "serve", "--port", "0", "--prefix", "/admin/reproq", "--log-format", "json"],
      { env: cleanEnv(env) },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child?.on("exit", (code) => resolve(code)));
    const base = await eventually(() => /"url":"([^"]+)"/.exec(stderr)?.[1], 15_000);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/admin\/reproq\/$/);

    const printed = await runCli(["token", "--scope", "read", "--ttl", "5m"], { cwd: process.cwd(), env });
    expect(printed.code).toBe(0);
    const token = printed.stdout.trim();
    expect(token.split(".")).toHaveLength(3);
    const { status, json } = await call(`${base}stats/`, { headers: bearer(token) });
    expect(status).toBe(200);
    expect(json?.tasks).toMatchObject({ FAILED: 5 });
    expect((await call(`${base}queues/x/pause`, { method: "POST", headers: bearer(token) })).status).toBe(
      403,
    );
    expect((await call(`${base}stats/`)).status).toBe(401);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    child = undefined;
  });

  it("serve refuses a non-loopback host without credentials and an unmigrated schema; token refuses a bad scope or no key", async () => {
    const serve = await runCli(["--dsn", ctx.db.url, "serve", "--host", "0.0.0.0", "--port", "0"], {
      cwd: process.cwd(),
    });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/needs credentials/);
    const empty = await createEmptyDatabase();
    try {
      const unmigrated = await runCli(["--dsn", empty.url, "serve", "--port", "0"], {
        cwd: process.cwd(),
        env: { METRICS_AUTH_TOKEN: TOKEN },
      });
      expect(unmigrated.code).toBe(1);
      expect(unmigrated.stderr).toMatch(/run `reproq migrate`/);
    } finally {
      await dropTestDatabase(empty);
    }
    const scope = await runCli(["token", "--scope", "root"], {
      cwd: process.cwd(),
      env: { METRICS_AUTH_TOKEN: TOKEN },
    });
    expect(scope.code).toBe(2);
    const nokey = await runCli(["token", "--scope", "read"], { cwd: process.cwd() });
    expect(nokey.code).toBe(2);
    expect(nokey.stderr).toMatch(/no key to sign/);
  });
});
