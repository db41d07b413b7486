/**
 * The effective configuration as data: every setting with its value and where it came from,
 * secrets masked. Nothing here connects, so it works while the database URL is being debugged.
 */
import { displayPath, explainConfig, maskSecret, type ResolvedConfig } from "../config/load.js";
import { isSecretKey } from "../config/schema.js";

export interface ConfigSetting {
  key: string;
  /** The value with its type (number, list; null when unset); secrets as masked text. */
  value: unknown;
  /** The value as text for people: durations with units, lists joined, secrets masked. */
  display: string;
  /** Where the value came from: default, a file, an environment variable, a flag. */
  source: string;
}

export interface ConfigReport {
  /** The config file read, relative to `cwd` when inside it; undefined when there is none. */
  file: string | undefined;
  settings: ConfigSetting[];
}

export function describeConfig(config: ResolvedConfig, cwd: string): ConfigReport {
  const values = config.values as Record<string, unknown>;
  const settings = explainConfig(config, { cwd }).map((row) => ({
    key: row.key,
    value: isSecretKey(row.key) ? maskedOrNull(row.key, values[row.key]) : (values[row.key] ?? null),
    display: row.value,
    source: row.source,
  }));
  return { file: config.file === undefined ? undefined : displayPath(config.file, cwd), settings };
}

function maskedOrNull(key: string, value: unknown): string | null {
  return value === undefined || value === null ? null : maskSecret(key, value);
}
