/**
 * `reproq serve`: the manager API (`GET stats/`, `POST queues/<name>/pause|resume`, the worker
 * proxies and TUI pairing under `tui/`) on its own HTTP server, under a prefix (default
 * /reproq/), until SIGTERM or SIGINT. The handler is the one applications mount with
 * createManagerHandler; this command only listens and stops.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SchemaError, UsageError } from "../../errors.js";
import { createManagerHandler } from "../../http/manager.js";
import { checkMigrations } from "../../ops/migrate.js";
import { requireDatabaseUrl } from "../context.js";
import { type CommandContext, defineCommand } from "../define.js";
import { durationFlag } from "../flags.js";
import { cliLogger } from "../log.js";
import { LOG_OPTIONS } from "../options.js";

interface ServeFlags {
  host: string;
  port: string;
  prefix: string;
  statsMaxAge: string;
}

const EXAMPLES = `
Examples:
  $ reproq serve                                        http://127.0.0.1:8080/reproq/stats/
  $ METRICS_AUTH_TOKEN=... reproq serve --host 0.0.0.0 --port 8080
  $ curl -H "Authorization: Bearer $METRICS_AUTH_TOKEN" http://127.0.0.1:8080/reproq/stats/

Off loopback the server needs credentials (metricsAuthToken or jwtSecret) and refuses to start
without them; on loopback without them it serves stats read-only and warns.
`;

interface ServeInput {
  port: number;
  statsMaxAgeMs: number;
}

function parseFlags(flags: ServeFlags): ServeInput {
  const port = /^\d{1,5}$/.test(flags.port.trim()) ? Number(flags.port) : Number.NaN;
  if (!Number.isInteger(port) || port > 65_535)
    throw new UsageError(`--port: "${flags.port}" is not valid; give a port number 0 to 65535`);
  const statsMaxAgeMs = flags.statsMaxAge === "0" ? 0 : durationFlag(flags.statsMaxAge, "--stats-max-age");
  return { port, statsMaxAgeMs };
}

async function serve(ctx: CommandContext<ServeFlags>, { port, statsMaxAgeMs }: ServeInput): Promise<void> {
  requireDatabaseUrl(ctx.config);
  const { logLevel, logFormat } = ctx.config.values;
  const log = cliLogger({ role: "serve", level: logLevel, format: logFormat });
  const host = ctx.flags.host;
  // A schema that is missing or at another version would fail every request; say so once, now.
  const { problem } = await checkMigrations(ctx.db, ctx.schema);
  if (problem) throw new SchemaError(problem);
  const handler = createManagerHandler({
    pool: ctx.db,
    config: ctx.config.values,
    prefix: ctx.flags.prefix,
    listenHost: host,
    statsMaxAgeMs,
    log,
  });
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw new UsageError(`--host ${host} --port ${port}: cannot listen (${(error as Error).message})`);
  });
  const bound = server.address() as AddressInfo;
  const shown = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const prefix = `/${ctx.flags.prefix.replace(/^\/+|\/+$/g, "")}/`.replace(/^\/\/$/, "/");
  log.info({ url: `http://${shown}:${bound.port}${prefix}` }, "manager API listening");

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, "stopping");
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

export const serveCommand = defineCommand<ServeFlags, ServeInput>({
  name: "serve",
  description: "serve the manager API (stats, queue pause) over HTTP for dashboards and the TUI",
  options: [
    { flags: "--host <host>", description: "address to listen on", default: "127.0.0.1" },
    { flags: "--port <port>", description: "port to listen on (0 picks a free one)", default: "8080" },
    { flags: "--prefix <path>", description: "path prefix of the routes", default: "/reproq/" },
    {
      flags: "--stats-max-age <duration>",
      description: "serve a stats document again while younger than this (0 reads every time)",
      default: "2s",
    },
    ...Object.values(LOG_OPTIONS),
  ],
  help: EXAMPLES,
  database: { max: 2, role: "serve" },
  parse: parseFlags,
  run: serve,
});
