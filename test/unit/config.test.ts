/**
 * Configuration loading: file formats, discovery, precedence with recorded sources,
 * environment coercion, error messages and secret masking. Uses real files in temp dirs.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { explainConfig, loadConfig, maskSecret, parseCommaList } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const defineModule = fileURLToPath(new URL("../../src/config/define.ts", import.meta.url));

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "reproq-config-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

async function loadError(options: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  const error = await loadConfig(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(2);
  return error as ConfigError;
}

describe("defaults", () => {
  it("uses defaults when there is no file, env or override", async () => {
    const resolved = await loadConfig({ cwd: dir, env: {} });
    expect(resolved.file).toBeUndefined();
    expect(resolved.values).toEqual({
      schema: "reproq",
      defaultQueue: "default",
      dedupActive: true,
      timeoutSeconds: 900,
      maxAttempts: 3,
      maxPayloadBytes: 1_048_576,
      preparedStatements: true,
      poolSize: 10,
      connectTimeout: 10_000,
      applicationName: "reproq",
      queues: ["default"],
      concurrency: 10,
      prefetch: 1000,
      isolation: "in-process",
      pollInterval: 2000,
      leaseDuration: 60_000,
      heartbeatInterval: 10_000,
      shutdownTimeout: 30_000,
      retryBase: 1000,
      retryCap: 3_600_000,
      retryJitter: 0,
      maintenanceInterval: 15_000,
      retainSuccessful: 7 * 86_400_000,
      retainFailed: 30 * 86_400_000,
      metricsQueueDepthInterval: 15_000,
      eventsHeartbeatInterval: 15_000,
      jwtTtl: 3_600_000,
      memoryLogInterval: 0,
      lowMemoryMode: false,
      maxRunsPerChild: 1000,
      maxChildMemoryMb: 512,
      logLevel: "info",
    });
    expect(resolved.values.databaseUrl).toBeUndefined();
    for (const source of Object.values(resolved.sources)) expect(source).toEqual({ kind: "default" });
  });
});

describe("file formats", () => {
  const expected = { maxAttempts: 5, schema: "jobs", allowedQueues: ["a", "b"], expiresIn: 600_000 };

  it("reads reproq.yaml", async () => {
    const file = await write(
      "reproq.yaml",
      "maxAttempts: 5\nschema: jobs\nallowedQueues: [a, b]\nexpiresIn: 10m\n",
    );
    const resolved = await loadConfig({ cwd: dir, env: {} });
    expect(resolved.values).toMatchObject(expected);
    expect(resolved.file).toBe(file);
    expect(resolved.sources.maxAttempts).toEqual({ kind: "file", path: file });
  });

  it("reads .reproq.yml", async () => {
    await write(
      ".reproq.yml",
      "maxAttempts: 5\nschema: jobs\nallowedQueues:\n  - a\n  - b\nexpiresIn: 10m\n",
    );
    expect((await loadConfig({ cwd: dir, env: {} })).values).toMatchObject(expected);
  });

  it("reads reproq.toml", async () => {
    await write(
      "reproq.toml",
      'maxAttempts = 5\nschema = "jobs"\nallowedQueues = ["a", "b"]\nexpiresIn = "10m"\n',
    );
    expect((await loadConfig({ cwd: dir, env: {} })).values).toMatchObject(expected);
  });

  it("reads reproq.config.json", async () => {
    await write("reproq.config.json", JSON.stringify({ ...expected, expiresIn: "10m" }));
    expect((await loadConfig({ cwd: dir, env: {} })).values).toMatchObject(expected);
  });

  it("reads reproq.config.ts that imports defineConfig", async () => {
    const relative = path.relative(dir, defineModule).split(path.sep).join("/");
    await write(
      "reproq.config.ts",
      `import { defineConfig } from "${relative}";\n` +
        `const attempts: number = 5;\n` +
        `export default defineConfig({ maxAttempts: attempts, schema: "jobs", allowedQueues: ["a", "b"], expiresIn: "10m" });\n`,
    );
    expect((await loadConfig({ cwd: dir, env: {} })).values).toMatchObject(expected);
  });

  it("reads reproq.config.mjs whose default export is an async function", async () => {
    await write(
      "reproq.config.mjs",
      'export default async () => ({ maxAttempts: 5, schema: "jobs", allowedQueues: ["a", "b"], expiresIn: 600000 });\n',
    );
    expect((await loadConfig({ cwd: dir, env: {} })).values).toMatchObject(expected);
  });

  it("reads reproq.config.js with a plain object default export", async () => {
    await write("package.json", '{"type":"module"}');
    await write("reproq.config.js", "export default { poolSize: 3 };\n");
    expect((await loadConfig({ cwd: dir, env: {} })).values.poolSize).toBe(3);
  });

  it("treats an empty YAML file as no settings", async () => {
    await write("reproq.yaml", "");
    expect((await loadConfig({ cwd: dir, env: {} })).values.maxAttempts).toBe(3);
  });

  it("reports a parse error naming the file, on one line", async () => {
    await write("reproq.toml", "maxAttempts = = 5\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toMatch(/^reproq\.toml: /);
    expect(error.message).not.toContain("\n");
  });

  it("reports a YAML parse error naming the file", async () => {
    await write("reproq.yaml", "maxAttempts: [1\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toMatch(/^reproq\.yaml: /);
    expect(error.message).not.toContain("\n");
  });

  it("rejects a file whose top level is not a table", async () => {
    await write("reproq.config.json", "[1, 2]");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toBe(
      "reproq.config.json: expected a table of settings at the top level, got [1,2]",
    );
  });

  it("rejects a JavaScript config without a default export", async () => {
    await write("reproq.config.mjs", "export const config = { poolSize: 3 };\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toContain("reproq.config.mjs: no default export");
  });
});

describe("precedence", () => {
  it("applies default < file < env < code override and records each source", async () => {
    const file = await write("reproq.yaml", "maxAttempts: 5\npoolSize: 4\ntimeoutSeconds: 60\n");
    const resolved = await loadConfig({
      cwd: dir,
      env: { REPROQ_POOL_SIZE: "6", REPROQ_TIMEOUT_SECONDS: "30" },
      overrides: { timeoutSeconds: 10 },
    });
    expect(resolved.values).toMatchObject({
      schema: "reproq",
      maxAttempts: 5,
      poolSize: 6,
      timeoutSeconds: 10,
    });
    expect(resolved.sources.schema).toEqual({ kind: "default" });
    expect(resolved.sources.maxAttempts).toEqual({ kind: "file", path: file });
    expect(resolved.sources.poolSize).toEqual({ kind: "env", name: "REPROQ_POOL_SIZE" });
    expect(resolved.sources.timeoutSeconds).toEqual({ kind: "code" });
  });

  it("records flag overrides under their flag names and coerces string flag values", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: { DATABASE_URL: "postgres://env@h/db" },
      overrides: {
        databaseUrl: "postgres://flag@h/db",
        poolSize: "7" as unknown as number,
        codeRef: undefined,
      },
      overrideSource: "flag",
      flagNames: { databaseUrl: "--dsn" },
    });
    expect(resolved.values.databaseUrl).toBe("postgres://flag@h/db");
    expect(resolved.values.poolSize).toBe(7);
    expect(resolved.sources.databaseUrl).toEqual({ kind: "flag", name: "--dsn" });
    expect(resolved.sources.poolSize).toEqual({ kind: "flag", name: "--pool-size" });
    expect(resolved.sources.codeRef).toEqual({ kind: "default" });
  });

  it("prefers REPROQ_DATABASE_URL over DATABASE_URL", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: { DATABASE_URL: "postgres://generic@h/db", REPROQ_DATABASE_URL: "postgresql://specific@h/db" },
    });
    expect(resolved.values.databaseUrl).toBe("postgresql://specific@h/db");
    expect(resolved.sources.databaseUrl).toEqual({ kind: "env", name: "REPROQ_DATABASE_URL" });

    const fallback = await loadConfig({ cwd: dir, env: { DATABASE_URL: "postgres://generic@h/db" } });
    expect(fallback.sources.databaseUrl).toEqual({ kind: "env", name: "DATABASE_URL" });
  });

  it("prefers ALLOWED_TASK_MODULES over REPROQ_ALLOWED_TASK_MODULES", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: { ALLOWED_TASK_MODULES: "a.js", REPROQ_ALLOWED_TASK_MODULES: "b.js" },
    });
    expect(resolved.values.allowedTaskModules).toEqual(["a.js"]);
  });

  it("treats empty environment variables as unset", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: { REPROQ_DATABASE_URL: "", DATABASE_URL: "postgres://h/db", REPROQ_POOL_SIZE: "  " },
    });
    expect(resolved.sources.databaseUrl).toEqual({ kind: "env", name: "DATABASE_URL" });
    expect(resolved.values.poolSize).toBe(10);
  });
});

describe("discovery", () => {
  it("uses --config instead of discovery", async () => {
    await write("reproq.yaml", "poolSize: 2\n");
    const other = await write("conf/custom.toml", "poolSize = 3\n");
    const resolved = await loadConfig({ cwd: dir, env: {}, configPath: "conf/custom.toml" });
    expect(resolved.values.poolSize).toBe(3);
    expect(resolved.file).toBe(other);
    expect(resolved.sources.poolSize).toEqual({ kind: "file", path: other });
  });

  it("uses REPROQ_CONFIG when --config is not given", async () => {
    const other = await write("conf/custom.yaml", "poolSize: 4\n");
    const resolved = await loadConfig({ cwd: dir, env: { REPROQ_CONFIG: other } });
    expect(resolved.values.poolSize).toBe(4);
    expect(resolved.file).toBe(other);
  });

  it("lets --config win over REPROQ_CONFIG", async () => {
    await write("a.yaml", "poolSize: 1\n");
    await write("b.yaml", "poolSize: 2\n");
    const resolved = await loadConfig({ cwd: dir, configPath: "b.yaml", env: { REPROQ_CONFIG: "a.yaml" } });
    expect(resolved.values.poolSize).toBe(2);
  });

  it("refuses two candidate files", async () => {
    await write("reproq.yaml", "poolSize: 2\n");
    await write("reproq.toml", "poolSize = 3\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toContain("reproq.yaml, reproq.toml");
    expect(error.message).toContain("--config");
  });

  it("reports a missing explicit file", async () => {
    const error = await loadError({ cwd: dir, env: {}, configPath: "nope.yaml" });
    expect(error.message).toBe("config file nope.yaml (from --config) does not exist");
    const fromEnv = await loadError({ cwd: dir, env: { REPROQ_CONFIG: "gone.toml" } });
    expect(fromEnv.message).toBe("config file gone.toml (from REPROQ_CONFIG) does not exist");
  });

  it("rejects an unsupported extension", async () => {
    await write("settings.ini", "poolSize=1\n");
    const error = await loadError({ cwd: dir, env: {}, configPath: "settings.ini" });
    expect(error.message).toMatch(/^settings\.ini: unsupported config file type "\.ini"/);
  });
});

describe("validation", () => {
  it("rejects an unknown key with a suggestion", async () => {
    await write("reproq.yaml", "maxAtempts: 5\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toBe('unknown setting "maxAtempts" in reproq.yaml; did you mean "maxAttempts"?');
  });

  it("suggests the camelCase key for snake_case and env-style names", async () => {
    await write("reproq.toml", 'database_url = "postgres://h/db"\n');
    expect((await loadError({ cwd: dir, env: {} })).message).toBe(
      'unknown setting "database_url" in reproq.toml; did you mean "databaseUrl"?',
    );
    await write("reproq.toml", "REPROQ_POOL_SIZE = 3\n");
    expect((await loadError({ cwd: dir, env: {} })).message).toBe(
      'unknown setting "REPROQ_POOL_SIZE" in reproq.toml; did you mean "poolSize"?',
    );
  });

  it("rejects an unknown key without a close match and an unknown override", async () => {
    await write("reproq.yaml", "flavour: vanilla\n");
    expect((await loadError({ cwd: dir, env: {} })).message).toBe('unknown setting "flavour" in reproq.yaml');
    await rm(path.join(dir, "reproq.yaml"));
    const overrides = { colour: "red" } as unknown as Record<string, never>;
    expect((await loadError({ cwd: dir, env: {}, overrides })).message).toBe(
      'unknown setting "colour" in code',
    );
  });

  it("names key and file for a wrong type in a file", async () => {
    await write("reproq.yaml", "maxAttempts: three\n");
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toBe('maxAttempts in reproq.yaml: expected an integer >= 1, got "three"');
  });

  it("does not coerce strings in files", async () => {
    await write("reproq.config.json", '{"dedupActive": "yes"}');
    const error = await loadError({ cwd: dir, env: {} });
    expect(error.message).toBe('dedupActive in reproq.config.json: expected a boolean, got "yes"');
  });

  it("names the variable for a wrong type in the environment", async () => {
    const error = await loadError({ cwd: dir, env: { REPROQ_MAX_ATTEMPTS: "abc" } });
    expect(error.message).toBe('REPROQ_MAX_ATTEMPTS: expected an integer >= 1, got "abc"');
    const zero = await loadError({ cwd: dir, env: { REPROQ_MAX_ATTEMPTS: "0" } });
    expect(zero.message).toBe('REPROQ_MAX_ATTEMPTS: expected an integer >= 1, got "0"');
    const fraction = await loadError({ cwd: dir, env: { REPROQ_POOL_SIZE: "1.5" } });
    expect(fraction.message).toBe('REPROQ_POOL_SIZE: expected an integer from 1 to 1000, got "1.5"');
  });

  it("names the flag for a wrong flag value and the key for a wrong code value", async () => {
    const flag = await loadError({
      cwd: dir,
      env: {},
      overrides: { poolSize: "many" as unknown as number },
      overrideSource: "flag",
    });
    expect(flag.message).toBe('--pool-size: expected an integer from 1 to 1000, got "many"');
    const code = await loadError({ cwd: dir, env: {}, overrides: { poolSize: 0 } });
    expect(code.message).toBe("poolSize in code: expected an integer from 1 to 1000, got 0");
  });

  it("coerces booleans from the environment", async () => {
    for (const [text, value] of [
      ["true", true],
      ["FALSE", false],
      ["1", true],
      ["0", false],
      ["Yes", true],
      ["no", false],
      ["ON", true],
      ["off", false],
    ] as const) {
      const resolved = await loadConfig({ cwd: dir, env: { REPROQ_DEDUP_ACTIVE: text } });
      expect(resolved.values.dedupActive).toBe(value);
    }
    const error = await loadError({ cwd: dir, env: { REPROQ_DEDUP_ACTIVE: "maybe" } });
    expect(error.message).toBe(
      'REPROQ_DEDUP_ACTIVE: expected true/false, 1/0, yes/no or on/off, got "maybe"',
    );
  });

  it("validates the schema name as a PostgreSQL identifier", async () => {
    for (const good of ["reproq", "_jobs", "tasks_2", "a".repeat(63)]) {
      const resolved = await loadConfig({ cwd: dir, env: { REPROQ_SCHEMA: good } });
      expect(resolved.values.schema).toBe(good);
    }
    for (const bad of ["Jobs", "2jobs", "my-jobs", "jobs;drop", "a".repeat(64)]) {
      const error = await loadError({ cwd: dir, env: { REPROQ_SCHEMA: bad } });
      expect(error.message).toMatch(/^REPROQ_SCHEMA: expected a PostgreSQL identifier/);
    }
  });

  it("validates databaseUrl and masks it in the message", async () => {
    const error = await loadError({ cwd: dir, env: { DATABASE_URL: "mysql://root:hunter2@h/db" } });
    expect(error.message).toBe(
      'DATABASE_URL: expected a postgres:// or postgresql:// URL, got "mysql://root:****@h/db"',
    );
  });

  it("says a databaseUrl without a scheme is not a URL, showing none of it", async () => {
    for (const bad of ["notaurl", "app:hunter2@db.example.com/app"]) {
      const error = await loadError({ cwd: dir, env: { DATABASE_URL: bad } });
      expect(error.message).toBe(
        `DATABASE_URL: expected a postgres:// or postgresql:// URL, got a value that is not a URL (${bad.length} characters, not shown as it may hold a password); write it as postgres://user:password@host:5432/database`,
      );
      expect(error.message).not.toContain("hunter2");
    }
  });

  it("parses durations for expiresIn", async () => {
    expect((await loadConfig({ cwd: dir, env: { REPROQ_EXPIRES_IN: "10m" } })).values.expiresIn).toBe(
      600_000,
    );
    expect((await loadConfig({ cwd: dir, env: { REPROQ_EXPIRES_IN: "1500" } })).values.expiresIn).toBe(1500);
    expect((await loadConfig({ cwd: dir, env: {}, overrides: { expiresIn: "2h" } })).values.expiresIn).toBe(
      7_200_000,
    );
    const error = await loadError({ cwd: dir, env: { REPROQ_EXPIRES_IN: "soon" } });
    expect(error.message).toMatch(/^REPROQ_EXPIRES_IN: expected a positive duration .*, got "soon"$/);
    await write("reproq.yaml", "expiresIn: 0\n");
    expect((await loadError({ cwd: dir, env: {} })).message).toMatch(/^expiresIn in reproq\.yaml: expected/);
  });

  it("reads comma lists from the environment", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: { REPROQ_ALLOWED_QUEUES: " emails, reports,, ", REPROQ_TASKS: "src/tasks/**/*.ts" },
    });
    expect(resolved.values.allowedQueues).toEqual(["emails", "reports"]);
    expect(resolved.values.tasks).toEqual(["src/tasks/**/*.ts"]);
    const error = await loadError({ cwd: dir, env: { REPROQ_ALLOWED_QUEUES: " , " } });
    expect(error.message).toBe('REPROQ_ALLOWED_QUEUES: expected a non-empty list of queue names, got " , "');
  });
});

describe("parseCommaList", () => {
  it("trims entries and drops empty ones", () => {
    expect(parseCommaList(" a, b ,,c ,")).toEqual(["a", "b", "c"]);
    expect(parseCommaList("")).toEqual([]);
  });
});

describe("explainConfig", () => {
  it("shows values, rendered sources and descriptions with secrets masked", async () => {
    await write("reproq.yaml", "maxAttempts: 5\nexpiresIn: 10m\n");
    const resolved = await loadConfig({
      cwd: dir,
      env: { DATABASE_URL: "postgres://app:s3cret@db.example.com:5432/app", REPROQ_ALLOWED_QUEUES: "a,b" },
      overrides: { poolSize: 2 },
    });
    const rows = Object.fromEntries(explainConfig(resolved, { cwd: dir }).map((row) => [row.key, row]));
    expect(rows.databaseUrl).toMatchObject({
      value: "postgres://app:****@db.example.com:5432/app",
      source: "env DATABASE_URL",
    });
    expect(JSON.stringify(rows)).not.toContain("s3cret");
    expect(rows.maxAttempts).toMatchObject({ value: "5", source: "file reproq.yaml" });
    expect(rows.expiresIn).toMatchObject({ value: "10m", source: "file reproq.yaml" });
    expect(rows.allowedQueues).toMatchObject({ value: "a, b", source: "env REPROQ_ALLOWED_QUEUES" });
    expect(rows.poolSize).toMatchObject({ value: "2", source: "code" });
    expect(rows.schema).toMatchObject({ value: "reproq", source: "default" });
    expect(rows.codeRef).toMatchObject({ value: "(unset)", source: "default" });
    expect(rows.dedupActive?.value).toBe("true");
    expect(rows.maxAttempts?.description).toBeTruthy();
  });

  it("renders flag sources by flag name", async () => {
    const resolved = await loadConfig({
      cwd: dir,
      env: {},
      overrides: { databaseUrl: "postgres://u@h/db" },
      overrideSource: "flag",
      flagNames: { databaseUrl: "--dsn" },
    });
    const row = explainConfig(resolved).find((r) => r.key === "databaseUrl");
    expect(row).toMatchObject({ value: "postgres://u@h/db", source: "flag --dsn" });
  });
});

describe("maskSecret", () => {
  it("masks URL passwords, password query parameters and secret-named keys", () => {
    expect(maskSecret("databaseUrl", "postgres://user:pw@host/db")).toBe("postgres://user:****@host/db");
    expect(maskSecret("databaseUrl", "postgresql://user:p/w@host/db")).toBe("postgresql://user:****@host/db");
    expect(maskSecret("databaseUrl", "postgres://user@host/db?password=pw&sslmode=require")).toBe(
      "postgres://user@host/db?password=****&sslmode=require",
    );
    expect(maskSecret("databaseUrl", "postgres://host/db")).toBe("postgres://host/db");
    expect(maskSecret("apiToken", "abc")).toBe("****");
    expect(maskSecret("webhookSecret", "abc")).toBe("****");
    expect(maskSecret("smtpPassword", "abc")).toBe("****");
    expect(maskSecret("databaseUrl", undefined)).toBe("(unset)");
    expect(maskSecret("codeRef", "abc123")).toBe("abc123");
  });
});
