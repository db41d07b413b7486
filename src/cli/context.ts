/**
 * Helpers under every command: the global options, configuration resolved from those flags,
 * the CLI's connection options and a pool that is always closed, and printing. define.ts uses
 * them to run a declared command; long-running commands (dev) use them directly.
 */
import type pg from "pg";
import { loadConfig, type ResolvedConfig } from "../config/load.js";
import type { ConfigKey, ReproqConfigInput } from "../config/schema.js";
import { assertDatabaseConfigured, type ConnectOptions, withConnection } from "../db/connect.js";

/** Options defined on the root command; every subcommand sees them through optsWithGlobals(). */
export interface GlobalOptions {
  config?: string;
  dsn?: string;
  schema?: string;
  json?: boolean;
  verbose?: boolean;
}

/**
 * Resolves the configuration with --dsn, --schema and any command flags (`flags`, keyed by
 * setting, with `flagNames` giving their spelling) as the highest-precedence layer.
 */
export function resolveCliConfig(
  globals: GlobalOptions,
  flags: Partial<Record<ConfigKey, unknown>> = {},
  flagNames: Partial<Record<ConfigKey, string>> = {},
): Promise<ResolvedConfig> {
  const overrides: Partial<Record<ConfigKey, unknown>> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) overrides[key as ConfigKey] = value;
  }
  if (globals.dsn !== undefined) overrides.databaseUrl = globals.dsn;
  if (globals.schema !== undefined) overrides.schema = globals.schema;
  return loadConfig({
    configPath: globals.config,
    overrides: overrides as Partial<ReproqConfigInput>,
    overrideSource: "flag",
    flagNames: { databaseUrl: "--dsn", schema: "--schema", ...flagNames },
  });
}

/** How the CLI says "no database": every way to set one from a shell. */
export const CLI_NO_DATABASE =
  "no database configured: pass --dsn, set DATABASE_URL, or set databaseUrl in reproq.yaml";

/** The configured database URL, or a ConfigError (exit 2) that says every way to set one. */
export function requireDatabaseUrl(config: ResolvedConfig): string {
  assertDatabaseConfigured({ config: config.values, noDatabaseMessage: CLI_NO_DATABASE });
  return config.values.databaseUrl as string;
}

/** Connection options for a CLI command: this configuration, the CLI's "no database" message. */
export function cliConnectOptions(
  config: ResolvedConfig,
  options: { max?: number; role?: string } = {},
): ConnectOptions {
  return { config: config.values, noDatabaseMessage: CLI_NO_DATABASE, ...options };
}

/**
 * Runs `fn` with a pool and ends the pool however `fn` finishes, so an open pool
 * never keeps the process alive after a command. `max` caps connections for commands
 * that need only a few (a migration needs one).
 */
export function withPool<T>(
  config: ResolvedConfig,
  fn: (pool: pg.Pool) => Promise<T>,
  options: { max?: number; role?: string } = {},
): Promise<T> {
  return withConnection(cliConnectOptions(config, options), (connection) => fn(connection.pool));
}

/** Writes one line (or several) to stdout. */
export function printLines(lines: string | readonly string[]): void {
  const text = typeof lines === "string" ? lines : lines.join("\n");
  process.stdout.write(`${text}\n`);
}

/** Writes `data` as one indented JSON document; output goes to stdout and diagnostics to stderr, so `--json | jq` stays clean. */
export function printJson(data: unknown): void {
  printLines(JSON.stringify(data, null, 2));
}

/** Left-aligned columns separated by two spaces; the last column is not padded (no trailing blanks). */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const all = [headers, ...rows];
  const widths = headers.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}
