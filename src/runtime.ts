/**
 * Process-wide configuration: configure(), getBackend(), getResult(), migrate(), close().
 * configure() only records settings; they are resolved (with files and env) on first use.
 */
import type pg from "pg";
import { Backend } from "./backend.js";
import { CONFIG_KEYS, type ReproqConfigInput } from "./config/schema.js";
import { didYouMean } from "./config/suggest.js";
import { ConfigError, InvalidInputError } from "./errors.js";
import { parseRunId, type RunIdInput } from "./ids.js";
import type { TaskResult } from "./result.js";
import type { MigrateResult } from "./sql/migrate.js";

export interface ConfigureOptions extends ReproqConfigInput {
  /** Use the application's own pool instead of opening one (Reproq never ends it). */
  pool?: pg.Pool;
  /** Read this config file instead of discovering one. */
  configPath?: string;
  /** Directory for config discovery and lockfile lookup (default: process.cwd()). */
  cwd?: string;
}

const EXTRA_KEYS = new Set(["pool", "configPath", "cwd"]);
const DEFAULT_ALIAS = "default";

let settings: ConfigureOptions = {};
const backends = new Map<string, Backend>();

/** The settings given to configure() (the worker layers its own options on top). */
export function currentSettings(): Readonly<ConfigureOptions> {
  return settings;
}

/** Sets configuration for this process. Values here beat config files and the environment. */
export function configure(options: ConfigureOptions = {}): void {
  if (options === null || typeof options !== "object") {
    throw new ConfigError("configure() expects an object of settings");
  }
  for (const key of Object.keys(options)) {
    if (!EXTRA_KEYS.has(key) && !(CONFIG_KEYS as string[]).includes(key)) {
      const known = [...CONFIG_KEYS, ...EXTRA_KEYS];
      throw new ConfigError(
        `unknown setting "${key}" in configure()${didYouMean(key, known) || `; known settings: ${known.join(", ")}`}`,
      );
    }
  }
  const previous = [...backends.values()];
  backends.clear();
  for (const backend of previous) void backend.close();
  settings = { ...options };
}

/** The backend for a database alias (only "default" until multi-database routing exists). */
export function getBackend(alias: string = DEFAULT_ALIAS): Backend {
  if (alias !== DEFAULT_ALIAS) {
    throw new InvalidInputError(`unknown database alias "${alias}"; only "${DEFAULT_ALIAS}" is configured`);
  }
  let backend = backends.get(alias);
  if (!backend) {
    const { pool, configPath, cwd, ...overrides } = settings;
    backend = new Backend({ alias, overrides, pool, configPath, cwd });
    backends.set(alias, backend);
  }
  return backend;
}

/** Loads a run by id ("42" or "alias:42"). */
export async function getResult<R = unknown>(id: RunIdInput): Promise<TaskResult<R>> {
  const parsed = parseRunId(id);
  return getBackend(parsed.alias ?? DEFAULT_ALIAS).getResult<R>(id);
}

/** Applies pending schema migrations (same as `reproq migrate`). */
export async function migrate(): Promise<MigrateResult> {
  return getBackend().migrate();
}

/**
 * Closes every pool and listener Reproq opened. It is final: the closed backends stay in place, so
 * a later enqueue fails plainly instead of opening a new pool; configure() starts afresh.
 */
export async function close(): Promise<void> {
  await Promise.all([...backends.values()].map((b) => b.close()));
}
