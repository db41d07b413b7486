/**
 * The settings table: every configuration key with its type, default, environment
 * variables, secrecy and description. Code, config files, the environment and
 * command-line flags all go through this one table; docs/configuration.md mirrors it.
 * To add a setting, add one row to SETTINGS.
 */
import { z } from "zod";
import { parseDuration } from "../duration.js";

/** How a string from the environment or a flag is turned into the setting's type. */
export type SettingKind = "string" | "integer" | "number" | "boolean" | "list" | "duration";

export interface SettingSpec<T extends z.ZodType = z.ZodType> {
  /** Validates (and for durations, converts) a value that is present. */
  readonly type: T;
  readonly kind: SettingKind;
  /** Value used when no layer sets the key; absent means the key stays unset. */
  readonly default?: z.output<T>;
  /** Environment variables read for this key, first non-empty one wins. */
  readonly env: readonly string[];
  /** Masked in `config --explain` and in error messages. */
  readonly secret?: boolean;
  /** Completes "expected …" in error messages, e.g. "an integer >= 1". */
  readonly expected: string;
  readonly description: string;
}

// The generic default keeps `default` in the row's type so ReproqConfig knows which keys are always set.
function setting<T extends z.ZodType, D extends z.output<T> | undefined = undefined>(
  spec: Omit<SettingSpec<T>, "default"> & { default?: D },
): SettingSpec<T> & { readonly default: D } {
  return spec as SettingSpec<T> & { readonly default: D };
}

const nonEmptyString = z.string().min(1);
const stringList = z.array(nonEmptyString);

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    const ms = parseDuration(value);
    if (ms > 0) return ms;
  } catch {
    // parseDuration's own message names "duration"; the loader writes a message naming the key instead.
  }
  ctx.issues.push({ code: "custom", message: "invalid duration", input: value });
  return z.NEVER;
});

/** Like `duration` but 0 is allowed (it switches the feature off). */
const durationOrOff = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch {
    // The loader writes a message naming the key.
  }
  ctx.issues.push({ code: "custom", message: "invalid duration", input: value });
  return z.NEVER;
});

export const SETTINGS = {
  databaseUrl: setting({
    type: z.string().regex(/^postgres(?:ql)?:\/\//i),
    kind: "string",
    env: ["REPROQ_DATABASE_URL", "DATABASE_URL"],
    secret: true,
    expected: "a postgres:// or postgresql:// URL",
    description: "PostgreSQL connection URL.",
  }),
  schema: setting({
    type: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/),
    kind: "string",
    default: "reproq",
    env: ["REPROQ_SCHEMA"],
    expected:
      "a PostgreSQL identifier (lowercase letters, digits and _, not starting with a digit, at most 63 characters)",
    description: "PostgreSQL schema that holds Reproq's tables.",
  }),
  defaultQueue: setting({
    type: nonEmptyString,
    kind: "string",
    default: "default",
    env: ["REPROQ_DEFAULT_QUEUE"],
    expected: "a non-empty string",
    description: "Queue used when a task or enqueue call names none.",
  }),
  allowedQueues: setting({
    // An empty allow-list would forbid every queue, which is never what someone means.
    type: stringList.min(1),
    kind: "list",
    env: ["REPROQ_ALLOWED_QUEUES"],
    expected: "a non-empty list of queue names",
    description: "Queue names producers may enqueue to; unset allows any queue.",
  }),
  dedupActive: setting({
    type: z.boolean(),
    kind: "boolean",
    default: true,
    env: ["REPROQ_DEDUP_ACTIVE"],
    expected: "a boolean",
    description:
      "Whether enqueueing a task identical to one still waiting or running returns the existing run.",
  }),
  timeoutSeconds: setting({
    type: z.number().int().positive(),
    kind: "integer",
    default: 900,
    env: ["REPROQ_TIMEOUT_SECONDS"],
    expected: "a positive integer",
    description: "Seconds a run may take before it is considered failed.",
  }),
  maxAttempts: setting({
    type: z.number().int().min(1),
    kind: "integer",
    default: 3,
    env: ["REPROQ_MAX_ATTEMPTS"],
    expected: "an integer >= 1",
    description: "Attempts per run, counting the first.",
  }),
  expiresIn: setting({
    type: duration,
    kind: "duration",
    env: ["REPROQ_EXPIRES_IN"],
    expected: 'a positive duration such as "10m" or a number of milliseconds',
    description: "How long a run may wait to start before it expires; unset means never.",
  }),
  codeRef: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_CODE_REF"],
    expected: "a non-empty string",
    description: "Version of the task code (e.g. a git commit) recorded with each run.",
  }),
  lockfileHash: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_LOCKFILE_HASH"],
    expected: 'a non-empty string ("auto" or a hash)',
    description: 'Dependency lockfile hash recorded with each run; "auto" computes it from the lockfile.',
  }),
  maxPayloadBytes: setting({
    type: z.number().int().positive(),
    kind: "integer",
    default: 1_048_576,
    env: ["REPROQ_MAX_PAYLOAD_BYTES"],
    expected: "a positive integer",
    description: "Largest encoded payload (arguments, and a task's return value) accepted, in bytes.",
  }),
  preparedStatements: setting({
    type: z.boolean(),
    kind: "boolean",
    default: true,
    env: ["REPROQ_PREPARED_STATEMENTS"],
    expected: "a boolean",
    description:
      "Send enqueue(), claims and settles as named prepared statements (parsed once per connection); turn off behind a pooler that cannot keep them, such as PgBouncer before 1.21 in transaction mode.",
  }),
  poolSize: setting({
    type: z.number().int().min(1).max(1000),
    kind: "integer",
    default: 10,
    env: ["REPROQ_POOL_SIZE"],
    expected: "an integer from 1 to 1000",
    description: "Maximum PostgreSQL connections in the pool.",
  }),
  tasks: setting({
    type: stringList,
    kind: "list",
    env: ["REPROQ_TASKS"],
    expected: "a list of glob patterns",
    description: "Globs of task modules the worker imports.",
  }),
  allowedTaskModules: setting({
    type: stringList,
    kind: "list",
    env: ["ALLOWED_TASK_MODULES", "REPROQ_ALLOWED_TASK_MODULES"],
    expected: "a list of module paths or patterns",
    description: "Task modules a worker may load; unset allows any.",
  }),
  queues: setting({
    type: stringList.min(1),
    kind: "list",
    default: ["default"],
    env: ["REPROQ_QUEUES", "QUEUE_NAMES"],
    expected: "a non-empty list of queue names or globs",
    description: 'Queues a worker serves (globs such as "bulk-*" allowed).',
  }),
  concurrency: setting({
    type: z.number().int().min(1).max(10_000),
    kind: "integer",
    default: 10,
    env: ["REPROQ_CONCURRENCY"],
    expected: "an integer from 1 to 10000",
    description: "Runs a worker process executes at once.",
  }),
  prefetch: setting({
    type: z.number().int().min(0).max(10_000),
    kind: "integer",
    default: 1000,
    env: ["REPROQ_PREFETCH"],
    expected: "an integer from 0 to 10000",
    description:
      "Most runs a worker claims ahead of its free slots when tasks finish fast (about 250 ms of work); 0 claims only for free slots.",
  }),
  isolation: setting({
    type: z.enum(["in-process", "thread", "process"]),
    kind: "string",
    default: "in-process",
    env: ["REPROQ_ISOLATION"],
    expected: '"in-process", "thread" or "process"',
    description:
      "Executor: in-process (async, fastest), thread (worker threads that a timeout or cancel terminates) or process (child processes that a timeout or cancel kills).",
  }),
  workerId: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["WORKER_ID", "REPROQ_WORKER_ID"],
    expected: "a non-empty string",
    description: "This worker's id; default <hostname>-<pid>.",
  }),
  pollInterval: setting({
    type: duration,
    kind: "duration",
    default: 2000,
    env: ["REPROQ_POLL_INTERVAL"],
    expected: 'a positive duration such as "2s"',
    description:
      "How often an idle worker looks for work without a notification (LISTEN/NOTIFY wakes it at once).",
  }),
  leaseDuration: setting({
    type: duration,
    kind: "duration",
    default: 60_000,
    env: ["REPROQ_LEASE_DURATION"],
    expected: 'a positive duration such as "60s"',
    description: "How long a claim is valid without a heartbeat; expired leases are re-queued.",
  }),
  heartbeatInterval: setting({
    type: duration,
    kind: "duration",
    default: 10_000,
    env: ["REPROQ_HEARTBEAT_INTERVAL"],
    expected: 'a positive duration such as "10s"',
    description: "How often a worker extends the leases of its running runs.",
  }),
  shutdownTimeout: setting({
    type: durationOrOff,
    kind: "duration",
    default: 30_000,
    env: ["REPROQ_SHUTDOWN_TIMEOUT"],
    expected: 'a duration such as "30s"',
    description: "Grace period for running tasks on SIGTERM/SIGINT before they are aborted and released.",
  }),
  retryBase: setting({
    type: duration,
    kind: "duration",
    default: 1000,
    env: ["REPROQ_RETRY_BASE"],
    expected: 'a positive duration such as "1s"',
    description: "Retry delay is retryBase * 2^attempt (2 s, 4 s, 8 s ... by default).",
  }),
  retryCap: setting({
    type: duration,
    kind: "duration",
    default: 3_600_000,
    env: ["REPROQ_RETRY_CAP"],
    expected: 'a positive duration such as "1h"',
    description: "Longest retry delay.",
  }),
  retryJitter: setting({
    type: z.number().min(0).max(1),
    kind: "number",
    default: 0,
    env: ["REPROQ_RETRY_JITTER"],
    expected: "a number from 0 to 1",
    description: "Random spread applied to retry delays (0.1 = up to 10% either way).",
  }),
  maintenanceInterval: setting({
    type: duration,
    kind: "duration",
    default: 15_000,
    env: ["REPROQ_MAINTENANCE_INTERVAL"],
    expected: 'a positive duration such as "15s"',
    description:
      "How often one worker (the maintenance leader) reaps expired leases, expires runs and applies retention.",
  }),
  retainSuccessful: setting({
    type: durationOrOff,
    kind: "duration",
    default: 7 * 86_400_000,
    env: ["REPROQ_RETAIN_SUCCESSFUL"],
    expected: 'a duration such as "7d", or 0 to keep forever',
    description: "Delete SUCCESSFUL runs finished longer ago than this (0 keeps them).",
  }),
  retainFailed: setting({
    type: durationOrOff,
    kind: "duration",
    default: 30 * 86_400_000,
    env: ["REPROQ_RETAIN_FAILED"],
    expected: 'a duration such as "30d", or 0 to keep forever',
    description: "Delete FAILED, CANCELLED and EXPIRED runs finished longer ago than this (0 keeps them).",
  }),
  logsDir: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_LOGS_DIR"],
    expected: "a directory path",
    description: "Save each run's stdout/stderr to a file here (task_runs.logs_uri points to it).",
  }),
  metricsAddr: setting({
    type: z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]*):\d{1,5}$/),
    kind: "string",
    env: ["REPROQ_METRICS_ADDR", "METRICS_ADDR"],
    expected: 'HOST:PORT, such as "127.0.0.1:9464" or "[::1]:9464"',
    description:
      "Serve /metrics, /healthz and /events on this address (off when unset); see docs/observability.md.",
  }),
  metricsAuthToken: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_METRICS_AUTH_TOKEN", "METRICS_AUTH_TOKEN"],
    secret: true,
    expected: "a non-empty string",
    description: "Bearer token the worker's HTTP endpoints require (Authorization: Bearer <token>).",
  }),
  jwtSecret: setting({
    type: z.string().min(16),
    kind: "string",
    env: ["REPROQ_JWT_SECRET"],
    secret: true,
    expected: "a string of at least 16 characters",
    description:
      "HMAC key (HS256) that signs and checks the manager API's JWTs; unset, a key is derived from metricsAuthToken with HKDF.",
  }),
  jwtPreviousSecrets: setting({
    type: z.array(z.string().min(16)).min(1),
    kind: "list",
    env: ["REPROQ_JWT_PREVIOUS_SECRETS"],
    secret: true,
    expected: "a list of strings of at least 16 characters",
    description:
      "Former jwtSecret values: JWTs they signed are still accepted (never used to sign), for key rotation.",
  }),
  jwtTtl: setting({
    type: duration,
    kind: "duration",
    default: 3_600_000,
    env: ["REPROQ_JWT_TTL"],
    expected: 'a positive duration such as "1h"',
    description: "Lifetime of a JWT issued by `reproq token` (its exp claim).",
  }),
  workerMetricsUrl: setting({
    type: z.string().regex(/^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/),
    kind: "string",
    env: ["REPROQ_WORKER_METRICS_URL"],
    expected: 'an http(s) base URL such as "http://127.0.0.1:9464"',
    description:
      "Base URL of a worker's HTTP endpoints (its metricsAddr) that the manager API proxies as tui/metrics/, tui/healthz/ and tui/events/.",
  }),
  metricsAllowCidrs: setting({
    type: stringList.min(1),
    kind: "list",
    env: ["REPROQ_METRICS_ALLOW_CIDRS", "METRICS_ALLOW_CIDRS"],
    expected: "a list of IP addresses or CIDR ranges (IPv4 or IPv6)",
    description: "Client addresses the worker's HTTP endpoints answer; others get 403.",
  }),
  metricsTlsCert: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_METRICS_TLS_CERT", "METRICS_TLS_CERT"],
    expected: "a PEM certificate file path",
    description: "Serve the worker's HTTP endpoints over HTTPS with this certificate (with metricsTlsKey).",
  }),
  metricsTlsKey: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_METRICS_TLS_KEY", "METRICS_TLS_KEY"],
    expected: "a PEM private key file path",
    description: "The private key of metricsTlsCert.",
  }),
  metricsTlsClientCa: setting({
    type: nonEmptyString,
    kind: "string",
    env: ["REPROQ_METRICS_TLS_CLIENT_CA", "METRICS_TLS_CLIENT_CA"],
    expected: "a PEM CA bundle file path",
    description: "Require HTTPS clients to present a certificate signed by this CA (mutual TLS).",
  }),
  metricsQueueDepthInterval: setting({
    type: duration,
    kind: "duration",
    default: 15_000,
    env: ["REPROQ_METRICS_QUEUE_DEPTH_INTERVAL"],
    expected: 'a positive duration such as "15s"',
    description:
      "/metrics counts queue depth in the database at most this often (scrapes in between reuse it).",
  }),
  eventsHeartbeatInterval: setting({
    type: duration,
    kind: "duration",
    default: 15_000,
    env: ["REPROQ_EVENTS_HEARTBEAT_INTERVAL"],
    expected: 'a positive duration such as "15s"',
    description: "How often /events sends a `: ping` comment so proxies keep the stream open.",
  }),
  memoryLogInterval: setting({
    type: durationOrOff,
    kind: "duration",
    default: 0,
    env: ["REPROQ_MEMORY_LOG_INTERVAL"],
    expected: 'a duration such as "60s" (0 is off)',
    description: "Log the worker's RSS and heap this often (0 is off).",
  }),
  lowMemoryMode: setting({
    type: z.boolean(),
    kind: "boolean",
    default: false,
    env: ["REPROQ_LOW_MEMORY_MODE", "LOW_MEMORY_MODE"],
    expected: "a boolean",
    description:
      "Keep buffers small: /events answers 503 and keeps no event history; the manager API's worker proxies answer 503.",
  }),
  maxRunsPerChild: setting({
    type: z.number().int().min(1),
    kind: "integer",
    default: 1000,
    env: ["REPROQ_MAX_RUNS_PER_CHILD"],
    expected: "an integer >= 1",
    description:
      "With thread or process isolation, a task thread or child process is replaced after this many runs.",
  }),
  maxChildMemoryMb: setting({
    type: z.number().int().min(16),
    kind: "integer",
    default: 512,
    env: ["REPROQ_MAX_CHILD_MEMORY_MB"],
    expected: "an integer >= 16",
    description:
      "With process isolation, a child above this RSS (MiB) is replaced after its run; with thread isolation, a thread above this heap (MiB), and one at twice it is stopped.",
  }),
  schedulerMode: setting({
    // No default: unset means "beat", and keeps the resolved defaults free of an optional feature.
    type: z.enum(["beat", "cron", "pg_cron"]),
    kind: "string",
    env: ["REPROQ_SCHEDULER_MODE"],
    expected: '"beat", "cron" or "pg_cron"',
    description:
      "How this deployment runs periodic tasks (unset means beat): reproq beat, reproq schedule from crontab, or pg_cron jobs (beat then refuses to run).",
  }),
  connectTimeout: setting({
    type: duration,
    kind: "duration",
    default: 10_000,
    env: ["REPROQ_CONNECT_TIMEOUT"],
    expected: 'a positive duration such as "10s"',
    description: "How long opening a connection to PostgreSQL may take before it fails.",
  }),
  applicationName: setting({
    type: z.string(),
    kind: "string",
    default: "reproq",
    env: ["REPROQ_APPLICATION_NAME"],
    expected: "a string",
    description: "application_name reported to PostgreSQL (visible in pg_stat_activity).",
  }),
  logLevel: setting({
    type: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
    kind: "string",
    default: "info",
    env: ["REPROQ_LOG_LEVEL", "LOG_LEVEL"],
    expected: '"trace", "debug", "info", "warn", "error", "fatal" or "silent"',
    description:
      "Lowest level of the worker's and beat's own log lines; info logs one line per run start and outcome.",
  }),
  logFormat: setting({
    // No default: unset means pretty on a terminal, JSON lines otherwise.
    type: z.enum(["pretty", "json"]),
    kind: "string",
    env: ["REPROQ_LOG_FORMAT"],
    expected: '"pretty" or "json"',
    description:
      "How the CLI writes log lines on stderr: pretty for people, json (one object per line) for collectors; default pretty on a terminal, else json.",
  }),
} as const;

type Settings = typeof SETTINGS;

export type ConfigKey = keyof Settings;

export const CONFIG_KEYS = Object.keys(SETTINGS) as ConfigKey[];

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type KeysWithDefault = {
  [K in ConfigKey]: Settings[K]["default"] extends undefined ? never : K;
}[ConfigKey];
type Output<K extends ConfigKey> = z.output<Settings[K]["type"]>;

/** Resolved configuration: keys with a default are always present, durations are milliseconds. */
export type ReproqConfig = Simplify<
  { [K in KeysWithDefault]: Output<K> } & { [K in Exclude<ConfigKey, KeysWithDefault>]?: Output<K> }
>;

/** What a config file, configure() or defineConfig() accepts: every key optional, durations may carry a unit. */
export type ReproqConfigInput = { [K in ConfigKey]?: z.input<Settings[K]["type"]> };

export function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(SETTINGS, key);
}

export function settingFor(key: ConfigKey): SettingSpec {
  return SETTINGS[key];
}

/** Secret by declaration, or by a name that says so (token, secret, password). */
export function isSecretKey(key: string): boolean {
  if (isConfigKey(key) && settingFor(key).secret) return true;
  return /token|secret|password/i.test(key);
}
