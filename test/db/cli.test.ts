/**
 * The `reproq` executable, run as a real subprocess from dist/ (npm test builds first),
 * so exit codes, stdout/stderr separation and process exit are tested as users see them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LATEST_SCHEMA_VERSION } from "../../src/sql/migrations/index.js";
import { PACKAGE_VERSION } from "../../src/version.js";
import { type CliResult, lines, runCli } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";

const UNREACHABLE = "postgres://x:hunter2@127.0.0.1:1/db";

function reproq(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runCli(args, { cwd: options.cwd ?? emptyDir, env: options.env });
}

let emptyDir: string;
beforeAll(async () => {
  emptyDir = await mkdtemp(path.join(tmpdir(), "reproq-cli-"));
});
afterAll(async () => {
  await rm(emptyDir, { recursive: true, force: true });
});

/** A fresh directory holding one reproq.yaml. */
async function dirWithYaml(contents: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "reproq-cli-"));
  await writeFile(path.join(dir, "reproq.yaml"), contents);
  return dir;
}

describe("reproq basics", () => {
  it("prints the package version", async () => {
    const result = await reproq(["--version"]);
    expect(result).toEqual({ code: 0, stdout: `${PACKAGE_VERSION}\n`, stderr: "" });
  });

  it("shows examples in a command's --help", async () => {
    const result = await reproq(["migrate", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Examples:");
    expect(result.stdout).toContain("--dsn <url>");
  });

  it("exits 2 with one line for an unknown command", async () => {
    const result = await reproq(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual(["reproq: unknown command 'frobnicate'"]);
    expect(result.stdout).toBe("");
  });

  it("exits 2 with one line for an unknown option", async () => {
    const result = await reproq(["migrate", "--bogus"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual(["reproq: unknown option '--bogus'"]);
  });

  it("exits 2 when an option's value is missing", async () => {
    const result = await reproq(["migrate", "--dsn"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("--dsn");
  });

  it("exits 2 when no database is configured", async () => {
    const result = await reproq(["migrate"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      "reproq: no database configured: pass --dsn, set DATABASE_URL, or set databaseUrl in reproq.yaml",
    ]);
  });

  it("exits 1 with one line, without the password, when PostgreSQL cannot be reached", async () => {
    const result = await reproq(["--dsn", UNREACHABLE, "migrate", "--check"]);
    expect(result.code).toBe(1);
    const [line, ...rest] = lines(result.stderr);
    expect(line).toMatch(/^reproq: cannot reach PostgreSQL at 127\.0\.0\.1:1, connect timeout 10s: /);
    expect(rest).toEqual([]);
    expect(result.stderr).not.toContain("hunter2");
  });

  it("prints the stack and cause only with --verbose, wherever it is given", async () => {
    const result = await reproq(["migrate", "--dsn", UNREACHABLE, "--verbose"]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)[0]).toMatch(/^reproq: cannot reach PostgreSQL at 127\.0\.0\.1:1, /);
    expect(result.stderr).toMatch(/\n\s+at /);
    expect(result.stderr).toContain("Caused by: ");
  });
});

describe("reproq config", () => {
  it("takes DATABASE_URL from the environment and masks its password", async () => {
    const env = { DATABASE_URL: "postgres://envuser:envsecret@envhost/app" };
    const plain = await reproq(["config"], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain("databaseUrl = postgres://envuser:****@envhost/app");
    expect(plain.stdout).not.toContain("envsecret");

    const explained = await reproq(["config", "--explain"], { env });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/^KEY\s+VALUE\s+SOURCE$/m);
    expect(explained.stdout).toMatch(
      /^databaseUrl\s+postgres:\/\/envuser:\*{4}@envhost\/app\s+env DATABASE_URL$/m,
    );
    expect(explained.stdout).toContain("No config file");
    expect(explained.stdout).not.toContain("envsecret");
  });

  it("lets --dsn override DATABASE_URL", async () => {
    const result = await reproq(
      ["--dsn", "postgres://flaguser:flagsecret@flaghost/app", "config", "--explain"],
      {
        env: { DATABASE_URL: "postgres://envuser:envsecret@envhost/app" },
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^databaseUrl\s+postgres:\/\/flaguser:\*{4}@flaghost\/app\s+flag --dsn$/m);
    expect(result.stdout).not.toContain("secret");
  });

  it("prints an array of { key, value, source } with --json", async () => {
    const result = await reproq(["--json", "--schema", "jobs", "config"], {
      env: { DATABASE_URL: "postgres://u:pw@h/db", REPROQ_POOL_SIZE: "20" },
    });
    expect(result.code).toBe(0);
    const entries = JSON.parse(result.stdout) as Array<{ key: string; value: unknown; source: string }>;
    const byKey = new Map(entries.map((entry) => [entry.key, entry]));
    expect(byKey.get("databaseUrl")).toEqual({
      key: "databaseUrl",
      value: "postgres://u:****@h/db",
      source: "env DATABASE_URL",
    });
    expect(byKey.get("schema")).toEqual({ key: "schema", value: "jobs", source: "flag --schema" });
    expect(byKey.get("poolSize")).toEqual({ key: "poolSize", value: 20, source: "env REPROQ_POOL_SIZE" });
    expect(byKey.get("codeRef")).toEqual({ key: "codeRef", value: null, source: "default" });
  });

  it("picks up reproq.yaml from the current directory and names it as the source", async () => {
    const dir = await dirWithYaml(
      "maxAttempts: 5\ndatabaseUrl: postgres://yamluser:yamlsecret@yamlhost/app\n",
    );
    try {
      const result = await reproq(["config", "--explain"], { cwd: dir });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("Config file: reproq.yaml");
      expect(result.stdout).toMatch(/^maxAttempts\s+5\s+file reproq\.yaml$/m);
      expect(result.stdout).toMatch(
        /^databaseUrl\s+postgres:\/\/yamluser:\*{4}@yamlhost\/app\s+file reproq\.yaml$/m,
      );
      expect(result.stdout).not.toContain("yamlsecret");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 with one line naming an unknown key and the file, without a stack", async () => {
    const dir = await dirWithYaml("maxAtempts: 3\n");
    try {
      const result = await reproq(["config"], { cwd: dir });
      expect(result.code).toBe(2);
      expect(lines(result.stderr)).toEqual([
        'reproq: unknown setting "maxAtempts" in reproq.yaml; did you mean "maxAttempts"?',
      ]);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(result.stdout).toBe("");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 for a --dsn that is not a PostgreSQL URL", async () => {
    const result = await reproq(["--dsn", "mysql://root:pw@db/app", "config"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^reproq: --dsn: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(result.stderr).not.toContain(":pw@");
  });

  it("says a --dsn that is no URL at all is not one", async () => {
    const result = await reproq(["--dsn", "notaurl", "config"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      "reproq: --dsn: expected a postgres:// or postgresql:// URL, got a value that is not a URL (7 characters, not shown as it may hold a password); write it as postgres://user:password@host:5432/database",
    ]);
  });
});

describe("reproq migrate", () => {
  const ctx = useTestDatabase({ empty: true });

  it("--check exits 1 on an empty database and names the pending migrations", async () => {
    const result = await reproq(["--dsn", ctx.db.url, "migrate", "--check"]);
    expect(result.code).toBe(1);
    const errors = lines(result.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^reproq: schema "reproq" is at version 0/);
    expect(errors[0]).toContain("pending migrations: 1 (initial)");
    expect(errors[0]).toContain("run `reproq migrate`");
  });

  it("--check --json prints the status and still exits 1", async () => {
    const result = await reproq(["--json", "--dsn", ctx.db.url, "migrate", "--check"]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      schema: "reproq",
      current: 0,
      latest: LATEST_SCHEMA_VERSION,
      pending: expect.arrayContaining([{ version: 1, name: "initial" }]),
      newer: false,
    });
  });

  it("applies the migrations, then reports the schema up to date", async () => {
    const applied = await reproq(["migrate"], { env: { DATABASE_URL: ctx.db.url } });
    expect(applied.code).toBe(0);
    expect(lines(applied.stdout)[0]).toBe('Applied migration 1 (initial) to schema "reproq"');
    expect(lines(applied.stdout)).toHaveLength(LATEST_SCHEMA_VERSION);

    const checked = await reproq(["--dsn", ctx.db.url, "migrate", "--check"]);
    expect(checked).toEqual({
      code: 0,
      stdout: `Schema "reproq" is up to date (version ${LATEST_SCHEMA_VERSION})\n`,
      stderr: "",
    });

    const again = await reproq(["--dsn", ctx.db.url, "migrate"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`Schema "reproq" is up to date (version ${LATEST_SCHEMA_VERSION})\n`);
  });

  it("prints what it applied with --json, in the schema --schema names", async () => {
    const result = await reproq(["--dsn", ctx.db.url, "--schema", "cli_json", "--json", "migrate"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      schema: "cli_json",
      current: LATEST_SCHEMA_VERSION,
      latest: LATEST_SCHEMA_VERSION,
      pending: [],
      newer: false,
      applied: expect.arrayContaining([{ version: 1, name: "initial" }]),
    });

    const checked = await reproq([
      "--dsn",
      ctx.db.url,
      "--schema",
      "cli_json",
      "--json",
      "migrate",
      "--check",
    ]);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout)).toMatchObject({ schema: "cli_json", pending: [], newer: false });
  });

  it("--check fails with a hint to upgrade when the database is newer than the package", async () => {
    const schema = "cli_newer";
    const setup = await reproq(["--dsn", ctx.db.url, "--schema", schema, "migrate"]);
    expect(setup.code).toBe(0);
    await ctx.db.pool.query(
      `INSERT INTO ${schema}.schema_migrations (version, name, package_version) VALUES (9999, 'future', '99.0.0')`,
    );
    const result = await reproq(["--dsn", ctx.db.url, "--schema", schema, "migrate", "--check"]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("newer than this package supports");
    expect(result.stderr).toContain("upgrade reproq");

    const apply = await reproq(["--dsn", ctx.db.url, "--schema", schema, "migrate"]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain("upgrade reproq");
  });
});
