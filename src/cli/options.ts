/** Flags that several commands declare alike, so their spelling, help and setting stay one. */
import type { OptionSpec } from "./define.js";

/** --tasks as the setting `tasks` (task module globs). */
export function tasksOption(
  description = "task modules to import (globs; default: setting tasks)",
): OptionSpec {
  return { flags: "--tasks <globs...>", description, setting: "tasks" };
}

/** The worker's flags that set configuration, in the order `reproq worker --help` shows them. */
export const WORKER_OPTIONS = {
  queues: {
    flags: "--queues <list>",
    description: 'queues to serve, comma-separated, globs allowed (default "default")',
    setting: "queues",
  },
  concurrency: {
    flags: "--concurrency <n>",
    description: "runs executed at once (default 10)",
    setting: "concurrency",
  },
  prefetch: {
    flags: "--prefetch <n>",
    description: "most runs claimed ahead of free slots when tasks finish fast; 0 = off (default 1000)",
    setting: "prefetch",
  },
  isolation: {
    flags: "--isolation <mode>",
    description:
      '"in-process" (default), "thread" (worker threads; timeouts terminate) or "process" (child processes; timeouts kill)',
    setting: "isolation",
  },
  allowedTaskModules: {
    flags: "--allowed-task-modules <list>",
    description: "task-name prefixes or globs this worker may run (default: all registered)",
    setting: "allowedTaskModules",
  },
  logsDir: {
    flags: "--logs-dir <dir>",
    description: "save each run's stdout/stderr to a file in this directory",
    setting: "logsDir",
  },
  shutdownTimeout: {
    flags: "--shutdown-timeout <duration>",
    description: "grace period on SIGTERM/SIGINT (default 30s)",
    setting: "shutdownTimeout",
  },
  leaseDuration: {
    flags: "--lease-duration <duration>",
    description: "claim lease without a heartbeat (default 60s)",
    setting: "leaseDuration",
  },
  heartbeatInterval: {
    flags: "--heartbeat-interval <duration>",
    description: "lease renewal interval (default 10s)",
    setting: "heartbeatInterval",
  },
  pollInterval: {
    flags: "--poll-interval <duration>",
    description: "idle poll fallback; NOTIFY wakes the worker at once (default 2s)",
    setting: "pollInterval",
  },
  workerId: {
    flags: "--worker-id <id>",
    description: "worker id (default $WORKER_ID or <hostname>-<pid>)",
    setting: "workerId",
  },
} as const satisfies Record<string, OptionSpec>;

/**
 * The worker's HTTP endpoints (docs/observability.md). The token has no flag on purpose: a
 * command line is visible to every user of the machine; set METRICS_AUTH_TOKEN instead.
 */
export const METRICS_OPTIONS = {
  metricsAddr: {
    flags: "--metrics-addr <host:port>",
    description: "serve /metrics, /healthz and /events here (default: off)",
    setting: "metricsAddr",
  },
  metricsAllowCidrs: {
    flags: "--metrics-allow-cidrs <list>",
    description: "client IPs/CIDRs those endpoints answer, comma-separated (default: any)",
    setting: "metricsAllowCidrs",
  },
  metricsTlsCert: {
    flags: "--metrics-tls-cert <file>",
    description: "serve them over HTTPS with this PEM certificate",
    setting: "metricsTlsCert",
  },
  metricsTlsKey: {
    flags: "--metrics-tls-key <file>",
    description: "the certificate's PEM private key",
    setting: "metricsTlsKey",
  },
  metricsTlsClientCa: {
    flags: "--metrics-tls-client-ca <file>",
    description: "require client certificates signed by this CA (mutual TLS)",
    setting: "metricsTlsClientCa",
  },
} as const satisfies Record<string, OptionSpec>;

/** How a long-running command logs (settings logLevel and logFormat). */
export const LOG_OPTIONS = {
  logLevel: {
    flags: "--log-level <level>",
    description: "trace, debug, info (default: a line per run start and outcome), warn, error or silent",
    setting: "logLevel",
  },
  logFormat: {
    flags: "--log-format <format>",
    description: "pretty (default on a terminal) or json (one object per line on stderr)",
    setting: "logFormat",
  },
} as const satisfies Record<string, OptionSpec>;
