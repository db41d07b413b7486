/**
 * Operator functions that need no database: the configuration report, the starter config file,
 * writing unit files, the autosync switch and the upgrade steps. Plain data in, plain data out; real files in temp dirs.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { ReproqError } from "../../src/errors.js";
import { describeConfig } from "../../src/ops/config.js";
import { writeStarterConfig } from "../../src/ops/init.js";
import { recurringAutosyncEnabled } from "../../src/ops/recurring.js";
import { writeUnitFiles } from "../../src/ops/systemd.js";
import { upgradePlan } from "../../src/ops/upgrade.js";
import { PACKAGE_VERSION } from "../../src/version.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "reproq-ops-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("describeConfig", () => {
  it("gives each setting its typed value, its display text and its source, the URL's password masked", async () => {
    await writeFile(path.join(dir, "reproq.yaml"), "concurrency: 4\nshutdownTimeout: 2m\n");
    const config = await loadConfig({
      cwd: dir,
      env: { DATABASE_URL: "postgres://app:hunter2@db/app" },
    });
    const report = describeConfig(config, dir);
    expect(report.file).toBe("reproq.yaml");
    const byKey = new Map(report.settings.map((s) => [s.key, s]));
    expect(byKey.get("concurrency")).toMatchObject({ value: 4, display: "4", source: "file reproq.yaml" });
    expect(byKey.get("shutdownTimeout")).toMatchObject({ value: 120_000, display: "2m" });
    const url = byKey.get("databaseUrl");
    expect(url?.source).toBe("env DATABASE_URL");
    expect(JSON.stringify(url)).not.toContain("hunter2");
    expect(url?.value).toBe(url?.display);
  });

  it("says there is no file and gives unset settings the value null", async () => {
    const report = describeConfig(await loadConfig({ cwd: dir, env: {} }), dir);
    expect(report.file).toBeUndefined();
    expect(report.settings.find((s) => s.key === "databaseUrl")).toMatchObject({
      value: null,
      display: "(unset)",
    });
  });
});

describe("writeStarterConfig", () => {
  it("writes the template of the format into the directory, with the task globs", async () => {
    const written = await writeStarterConfig({ format: "toml", tasks: ["dist/jobs/*.js"], cwd: dir });
    expect(written).toEqual({ name: "reproq.toml", file: path.join(dir, "reproq.toml"), format: "toml" });
    expect(await readFile(written.file, "utf8")).toContain("dist/jobs/*.js");
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.values.tasks).toEqual(["dist/jobs/*.js"]);
  });

  it("refuses to overwrite the same file without force, and any other config file even with it", async () => {
    await writeStarterConfig({ format: "yaml", cwd: dir });
    const again = await writeStarterConfig({ format: "yaml", cwd: dir }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ReproqError);
    expect((again as ReproqError).code).toBe("CONFLICT");
    expect((again as Error).message).toBe("reproq.yaml already exists; pass --force to overwrite it");
    await expect(writeStarterConfig({ format: "yaml", force: true, cwd: dir })).resolves.toMatchObject({
      name: "reproq.yaml",
    });
    const other = await writeStarterConfig({ format: "toml", force: true, cwd: dir }).catch(
      (e: unknown) => e,
    );
    expect((other as Error).message).toMatch(
      /^reproq\.yaml already exists here and reproq reads one config file/,
    );
  });
});

describe("recurringAutosyncEnabled", () => {
  it("is on unless REPROQ_RECURRING_AUTOSYNC says false, 0, no or off", () => {
    expect(recurringAutosyncEnabled({})).toBe(true);
    expect(recurringAutosyncEnabled({ REPROQ_RECURRING_AUTOSYNC: "true" })).toBe(true);
    for (const off of ["false", "0", "no", "OFF"]) {
      expect(recurringAutosyncEnabled({ REPROQ_RECURRING_AUTOSYNC: off })).toBe(false);
    }
  });
});

describe("upgradePlan", () => {
  it("names this version and the two steps", () => {
    expect(upgradePlan()).toEqual({
      version: PACKAGE_VERSION,
      steps: ["npm update reproq", "npx reproq migrate"],
    });
  });
});

describe("writeUnitFiles", () => {
  it("creates the directory and writes the units, then refuses to overwrite them without force", async () => {
    const directory = path.join(dir, "deploy", "systemd");
    const units = [
      { name: "reproq-worker.service", text: "[Unit]\n" },
      { name: "reproq-beat.service", text: "[Unit]\n" },
    ];
    expect(await writeUnitFiles(directory, units)).toEqual({
      directory,
      files: [path.join(directory, "reproq-worker.service"), path.join(directory, "reproq-beat.service")],
    });
    expect(await readFile(path.join(directory, "reproq-beat.service"), "utf8")).toBe("[Unit]\n");
    const again = await writeUnitFiles(directory, units).catch((e: unknown) => e);
    expect((again as ReproqError).code).toBe("CONFLICT");
    expect((again as Error).message).toBe(
      `reproq-worker.service, reproq-beat.service already exist(s) in ${directory}; pass --force to overwrite`,
    );
    await expect(writeUnitFiles(directory, units, { force: true })).resolves.toMatchObject({ directory });
  });
});
