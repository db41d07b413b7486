/**
 * Resolves the configuration: defaults < config file < environment < overrides
 * (configure() or command-line flags), remembering where each value came from so
 * `reproq config --explain` can show it. Every problem is a one-line ConfigError.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createJiti } from "jiti";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.js";
import {
  CONFIG_KEYS,
  type ConfigKey,
  isConfigKey,
  isSecretKey,
  type ReproqConfig,
  type ReproqConfigInput,
  SETTINGS,
  type SettingKind,
  settingFor,
} from "./schema.js";
import { didYouMean } from "./suggest.js";

export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; path: string }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string }
  | { kind: "code" }
  /** Computed from another setting because it was not given (heartbeatInterval from leaseDuration). */
  | { kind: "derived"; from: ConfigKey };

export interface ResolvedConfig {
  values: ReproqConfig;
  sources: Record<keyof ReproqConfig, ConfigSource>;
  /** Absolute path of the config file that was read, if any. */
  file?: string;
}

export interface LoadConfigOptions {
  /** Directory searched for a config file and against which relative paths resolve; default process.cwd(). */
  cwd?: string;
  /** Explicit config file (--config); else env REPROQ_CONFIG; else discovery in cwd. */
  configPath?: string;
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Highest-precedence values, from configure() or from command-line flags. */
  overrides?: Partial<ReproqConfigInput>;
  /** Default "code". Flag values that are strings are coerced like environment values. */
  overrideSource?: "code" | "flag";
  /** Flag spelling per key for sources and messages, e.g. { databaseUrl: "--dsn" }; default --kebab-case-key. */
  flagNames?: Partial<Record<keyof ReproqConfig, string>>;
}

/** Candidate file names, in the order they are listed when more than one is present. */
export const CONFIG_FILE_NAMES = [
  "reproq.config.ts",
  "reproq.config.mts",
  "reproq.config.mjs",
  "reproq.config.js",
  "reproq.config.json",
  "reproq.yaml",
  "reproq.yml",
  "reproq.toml",
  ".reproq.yaml",
  ".reproq.yml",
  ".reproq.toml",
] as const;

const SUPPORTED_EXTENSIONS = [
  ".ts",
  ".mts",
  ".cts",
  ".mjs",
  ".js",
  ".cjs",
  ".json",
  ".yaml",
  ".yml",
  ".toml",
];

export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;

  const values: Record<string, unknown> = {};
  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const key of CONFIG_KEYS) {
    const fallback = settingFor(key).default;
    if (fallback !== undefined) values[key] = Array.isArray(fallback) ? [...fallback] : fallback;
    sources[key] = { kind: "default" };
  }

  const file = await findConfigFile(cwd, options.configPath, env);
  if (file !== undefined) {
    const label = displayPath(file, cwd);
    const settings = await readConfigFile(file, label);
    const source: ConfigSource = { kind: "file", path: file };
    for (const [key, value] of Object.entries(settings)) {
      const known = requireKnownKey(key, label);
      // YAML `key:` with nothing after it (or JSON null) leaves the key to lower layers.
      if (value === null || value === undefined) continue;
      values[known] = validate(known, value, source, label);
      sources[known] = source;
    }
  }

  for (const key of CONFIG_KEYS) {
    for (const name of settingFor(key).env) {
      const raw = env[name];
      // An empty variable counts as unset, as shells and .env files often leave them empty.
      if (raw === undefined || raw.trim() === "") continue;
      const source: ConfigSource = { kind: "env", name };
      values[key] = validate(key, raw, source, name);
      sources[key] = source;
      break;
    }
  }

  const overrideKind = options.overrideSource ?? "code";
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    const place = overrideKind === "code" ? "code" : `flag ${flagName(key, options.flagNames)}`;
    const known = requireKnownKey(key, place);
    if (value === null || value === undefined) continue;
    const source: ConfigSource =
      overrideKind === "code" ? { kind: "code" } : { kind: "flag", name: flagName(known, options.flagNames) };
    values[known] = validate(known, value, source, place);
    sources[known] = source;
  }

  deriveHeartbeat(values, sources);
  const resolved: ResolvedConfig = { values: values as ReproqConfig, sources };
  if (file !== undefined) resolved.file = file;
  return resolved;
}

/**
 * A heartbeatInterval that was not given follows the lease: at most a third of leaseDuration, so a
 * shorter `--lease-duration` alone is valid. One that was given is kept (the worker refuses a bad pair).
 */
function deriveHeartbeat(values: Record<string, unknown>, sources: Record<ConfigKey, ConfigSource>): void {
  if (sources.heartbeatInterval.kind !== "default") return;
  const third = Math.max(1, Math.floor((values.leaseDuration as number) / 3));
  if ((values.heartbeatInterval as number) <= third) return;
  values.heartbeatInterval = third;
  sources.heartbeatInterval = { kind: "derived", from: "leaseDuration" };
}

/**
 * A worker's heartbeat must come well inside its lease. Only a given heartbeatInterval can fail
 * this (one left unset follows the lease); the message names both values and where they came from.
 */
export function checkLeaseAndHeartbeat(resolved: ResolvedConfig, cwd: string): void {
  const { heartbeatInterval, leaseDuration } = resolved.values;
  if (heartbeatInterval < leaseDuration) return;
  const shown = (key: "heartbeatInterval" | "leaseDuration") =>
    `${maskSecret(key, resolved.values[key])}, ${renderSource(resolved.sources[key], cwd)}`;
  throw new ConfigError(
    `heartbeatInterval (${shown("heartbeatInterval")}) must be shorter than leaseDuration (${shown("leaseDuration")}); give a shorter heartbeat interval, or leave it unset to use a third of the lease`,
  );
}

/** Rows for `reproq config --explain`; secrets are masked. Paths show relative to `cwd` (default process.cwd()). */
export function explainConfig(
  resolved: ResolvedConfig,
  options: { cwd?: string } = {},
): Array<{ key: string; value: string; source: string; description: string }> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const values = resolved.values as Record<string, unknown>;
  return CONFIG_KEYS.map((key) => ({
    key,
    value: maskSecret(key, values[key]),
    source: renderSource(resolved.sources[key], cwd),
    description: settingFor(key).description,
  }));
}

/** Renders a value for display, hiding secrets; databaseUrl keeps everything but the password. */
export function maskSecret(key: string, value: unknown): string {
  if (value === undefined || value === null) return "(unset)";
  if (isSecretKey(key)) {
    if (typeof value === "string" && value.includes("://")) return maskUrl(value);
    return "****";
  }
  if (isConfigKey(key) && settingFor(key).kind === "duration" && typeof value === "number") {
    return formatDuration(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? "(empty list)" : value.map(String).join(", ");
  return typeof value === "string" ? value : safeStringify(value);
}

/** Splits "a, b,,c" into ["a", "b", "c"]: entries trimmed, empty ones dropped. */
export function parseCommaList(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

// ---------------------------------------------------------------------------
// Discovery and file formats

async function findConfigFile(
  cwd: string,
  configPath: string | undefined,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  const fromEnv = env.REPROQ_CONFIG?.trim();
  const explicit = configPath ?? (fromEnv ? fromEnv : undefined);
  if (explicit !== undefined) {
    const origin = configPath !== undefined ? "--config" : "REPROQ_CONFIG";
    const file = path.resolve(cwd, explicit);
    const kind = await fileKind(file);
    if (kind === "missing") throw new ConfigError(`config file ${explicit} (from ${origin}) does not exist`);
    if (kind === "other") throw new ConfigError(`config file ${explicit} (from ${origin}) is not a file`);
    return file;
  }

  const found: string[] = [];
  for (const name of CONFIG_FILE_NAMES) {
    if ((await fileKind(path.join(cwd, name))) === "file") found.push(name);
  }
  if (found.length > 1) {
    throw new ConfigError(
      `found ${found.length} config files in ${cwd}: ${found.join(", ")}; keep one, or choose one with --config FILE`,
    );
  }
  return found[0] === undefined ? undefined : path.join(cwd, found[0]);
}

async function fileKind(file: string): Promise<"file" | "other" | "missing"> {
  try {
    return (await stat(file)).isFile() ? "file" : "other";
  } catch {
    return "missing";
  }
}

async function readConfigFile(file: string, label: string): Promise<Record<string, unknown>> {
  const ext = path.extname(file).toLowerCase();
  let raw: unknown;
  try {
    switch (ext) {
      case ".ts":
      case ".mts":
      case ".cts":
        raw = await unwrapExport(await importTypeScript(file), label);
        break;
      case ".mjs":
      case ".js":
      case ".cjs":
        raw = await unwrapExport(await importJavaScript(file), label);
        break;
      case ".json":
        raw = JSON.parse(await readFile(file, "utf8"));
        break;
      case ".yaml":
      case ".yml":
        raw = parseYaml(await readFile(file, "utf8"));
        break;
      case ".toml":
        raw = parseToml(await readFile(file, "utf8"));
        break;
      default:
        throw new ConfigError(
          `${label}: unsupported config file type "${ext || "(none)"}"; use one of ${SUPPORTED_EXTENSIONS.join(", ")}`,
        );
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${label}: ${firstLine(error)}`, { cause: error });
  }
  // An empty YAML file parses to null; treat it like an empty table.
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(`${label}: expected a table of settings at the top level, got ${describe(raw)}`);
  }
  return raw as Record<string, unknown>;
}

async function importTypeScript(file: string): Promise<unknown> {
  // moduleCache off so a process that loads the config twice sees edits made in between.
  const jiti = createJiti(import.meta.url, { interopDefault: true, moduleCache: false });
  return jiti.import(file, { default: true });
}

async function importJavaScript(file: string): Promise<unknown> {
  // Native import() caches by URL; keying on mtime and size reloads the file only when it changed.
  const info = await stat(file);
  const url = `${pathToFileURL(file).href}?v=${info.mtimeMs}-${info.size}`;
  const mod = (await import(url)) as { default?: unknown };
  return mod.default;
}

async function unwrapExport(exported: unknown, label: string): Promise<unknown> {
  if (exported === undefined) {
    throw new ConfigError(`${label}: no default export; write \`export default defineConfig({ ... })\``);
  }
  return typeof exported === "function" ? await (exported as () => unknown)() : exported;
}

// ---------------------------------------------------------------------------
// Validation

function validate(key: ConfigKey, value: unknown, source: ConfigSource, place: string): unknown {
  const spec = settingFor(key);
  // Env and flag values arrive as text; file and code values must already have the right type.
  const fromText = (source.kind === "env" || source.kind === "flag") && typeof value === "string";
  // Env and flag names are what the user typed, so they lead the message; elsewhere the key does.
  const prefix = source.kind === "env" || source.kind === "flag" ? `${source.name}:` : `${key} in ${place}:`;
  const expected = fromText && spec.kind === "boolean" ? "true/false, 1/0, yes/no or on/off" : spec.expected;
  const failure = () => new ConfigError(`${prefix} expected ${expected}, got ${describeGot(key, value)}`);

  let candidate = value;
  if (fromText) {
    const coerced = coerceText(spec.kind, value as string);
    if (!coerced.ok) throw failure();
    candidate = coerced.value;
  }
  const result = spec.type.safeParse(candidate);
  if (!result.success) throw failure();
  return result.data;
}

type Coerced = { ok: true; value: unknown } | { ok: false };

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

function coerceText(kind: SettingKind, text: string): Coerced {
  const trimmed = text.trim();
  switch (kind) {
    case "string":
    case "duration":
      return { ok: true, value: trimmed };
    case "integer":
      return /^-?\d+$/.test(trimmed) ? { ok: true, value: Number(trimmed) } : { ok: false };
    case "number":
      return /^-?\d+(?:\.\d+)?$/.test(trimmed) ? { ok: true, value: Number(trimmed) } : { ok: false };
    case "boolean": {
      const word = trimmed.toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false };
    }
    case "list":
      return { ok: true, value: parseCommaList(text) };
  }
}

function requireKnownKey(key: string, place: string): ConfigKey {
  if (isConfigKey(key)) return key;
  throw new ConfigError(
    `unknown setting "${key}" in ${place}${didYouMean(key, CONFIG_KEYS, (candidate) => SETTINGS[candidate as ConfigKey].env)}`,
  );
}

// ---------------------------------------------------------------------------
// Rendering

function flagName(key: string, flagNames: LoadConfigOptions["flagNames"]): string {
  const named = isConfigKey(key) ? flagNames?.[key] : undefined;
  return named ?? `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

function renderSource(source: ConfigSource, cwd: string): string {
  switch (source.kind) {
    case "default":
      return "default";
    case "file":
      return `file ${displayPath(source.path, cwd)}`;
    case "env":
      return `env ${source.name}`;
    case "flag":
      return `flag ${source.name}`;
    case "code":
      return "code";
    case "derived":
      return `derived from ${source.from}`;
  }
}

/** A path relative to `cwd` when it lies inside it, else the absolute path. */
export function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file;
}

/** Replaces the password in user:password@ and in a password= query parameter. */
function maskUrl(url: string): string {
  const schemeEnd = url.indexOf("://") + 3;
  const rest = url.slice(schemeEnd);
  // Search for '@' before the query only; a password with an unencoded '/' is still masked.
  const queryStart = rest.indexOf("?");
  const beforeQuery = queryStart === -1 ? rest : rest.slice(0, queryStart);
  const at = beforeQuery.lastIndexOf("@");
  let masked = url;
  if (at !== -1) {
    const userinfo = beforeQuery.slice(0, at);
    const colon = userinfo.indexOf(":");
    if (colon !== -1) {
      masked = `${url.slice(0, schemeEnd)}${userinfo.slice(0, colon)}:****${rest.slice(at)}`;
    }
  }
  return masked.replace(/([?&]password=)[^&#]*/gi, "$1****");
}

const DURATION_UNITS: Array<[string, number]> = [
  ["w", 604_800_000],
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** Largest unit that divides evenly, so the text reads back through parseDuration to the same value. */
function formatDuration(ms: number): string {
  for (const [unit, size] of DURATION_UNITS) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function describeGot(key: string, value: unknown): string {
  if (isSecretKey(key) && typeof value === "string") {
    // A masked URL still shows what is wrong with it; anything else is not shown at all.
    if (value.includes("://")) return JSON.stringify(maskSecret(key, value));
    return `a value that is not a URL (${value.length} characters, not shown as it may hold a password); write it as postgres://user:password@host:5432/database`;
  }
  return describe(value);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null && !Array.isArray(value) && !isPlainObject(value)) {
    return String(value);
  }
  const text = safeStringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n").find((line) => line.trim() !== "") ?? "could not be read";
}
