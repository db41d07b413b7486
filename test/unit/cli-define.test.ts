/**
 * defineCommand's runner, driven through the real command tree: setting flags become the
 * highest configuration layer, flags are checked before the configuration is read, positional
 * arguments reach parse, and a command without a declared database cannot open one.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommandContext, defineCommand } from "../../src/cli/define.js";
import { buildProgram } from "../../src/cli/program.js";
import type { ResolvedConfig } from "../../src/config/load.js";
import { ConfigError, UsageError } from "../../src/errors.js";

let dir: string;
let configFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "reproq-define-"));
  configFile = path.join(dir, "reproq.yaml");
  await writeFile(configFile, "concurrency: 3\nqueues: [files]\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `reproq <args>` with one extra declared command, `probe`, and returns what its run saw. */
async function probe(
  args: string[],
): Promise<{ config: ResolvedConfig; input: unknown; ctx: CommandContext<object> }> {
  let seen: { config: ResolvedConfig; input: unknown; ctx: CommandContext<object> } | undefined;
  const program = buildProgram();
  defineCommand({
    name: "probe",
    description: "test command",
    arguments: [{ name: "[name]", description: "a name" }],
    options: [
      { flags: "--concurrency <n>", description: "runs at once", setting: "concurrency" },
      { flags: "--tasks <globs...>", description: "task modules", setting: "tasks" },
      { flags: "--count <n>", description: "checked before the configuration is read" },
    ],
    parse: (flags: { count?: string }, [name]) => {
      if (flags.count === "bad") throw new UsageError("--count: bad");
      return { name };
    },
    run: (ctx, input) => {
      seen = { config: ctx.config, input, ctx: ctx as CommandContext<object> };
    },
  }).register(program);
  await program.parseAsync(["--config", configFile, "probe", ...args], { from: "user" });
  if (seen === undefined) throw new Error("probe did not run");
  return seen;
}

describe("defineCommand", () => {
  it("layers setting flags over the config file and names the flag as the source", async () => {
    const { config } = await probe(["--concurrency", "7", "--tasks", "a/*.js", "b/*.js"]);
    expect(config.values.concurrency).toBe(7);
    expect(config.sources.concurrency).toEqual({ kind: "flag", name: "--concurrency" });
    expect(config.values.tasks).toEqual(["a/*.js", "b/*.js"]);
    expect(config.values.queues).toEqual(["files"]);
  });

  it("leaves the file's value when the flag is not given, and passes positional arguments to parse", async () => {
    const { config, input } = await probe(["emails"]);
    expect(config.values.concurrency).toBe(3);
    expect(input).toEqual({ name: "emails" });
  });

  it("reports a bad flag before a broken configuration", async () => {
    await writeFile(path.join(dir, "broken.yaml"), "concurrency: lots\n");
    const program = buildProgram();
    defineCommand({
      name: "probe",
      description: "test command",
      options: [{ flags: "--count <n>", description: "checked first" }],
      parse: (flags: { count?: string }) => {
        throw new UsageError(`--count: "${flags.count}" is not valid`);
      },
      run: () => undefined,
    }).register(program);
    const args = ["--config", path.join(dir, "broken.yaml"), "probe", "--count", "x"];
    await expect(program.parseAsync(args, { from: "user" })).rejects.toBeInstanceOf(UsageError);

    const plain = buildProgram();
    defineCommand({ name: "probe", description: "test command", run: () => undefined }).register(plain);
    await expect(
      plain.parseAsync(["--config", path.join(dir, "broken.yaml"), "probe"], { from: "user" }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it("refuses ctx.db to a command that declares no database", async () => {
    const { ctx } = await probe([]);
    expect(() => ctx.db).toThrow("reproq probe declares no database");
  });
});
