/**
 * A tasks file that does not import says where: file, line and column. Run in a plain Node process
 * on dist/, since the test runner's own module loader reports syntax errors differently.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const DISCOVERY = new URL("../../dist/worker/discovery.js", import.meta.url).href;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "reproq-discovery-"));
  await writeFile(path.join(dir, "parse.mjs"), "export const a = 1;\nconst b = ;\n");
  await writeFile(path.join(dir, "helper.mjs"), "export const z = 1;\n");
  await writeFile(
    path.join(dir, "binding.mjs"),
    'export const a = 1;\nimport { nope } from "./helper.mjs";\n',
  );
  await writeFile(path.join(dir, "outer.mjs"), 'import "./parse.mjs";\n');
  await writeFile(path.join(dir, "parse.ts"), "export const a: number = 1;\nconst b = ;\n");
  await writeFile(
    path.join(dir, "thrown.mjs"),
    'export const a = 1;\nexport const cfg = JSON.parse("{bad");\n',
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The error importTaskModules() throws for `name`: its class, message and cause's class. */
function importError(name: string): Promise<{ name: string; message: string; cause: string }> {
  const script = `
    const { importTaskModules } = await import(${JSON.stringify(DISCOVERY)});
    try {
      await importTaskModules([${JSON.stringify(name)}], ${JSON.stringify(dir)});
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, message: e.message, cause: e.cause?.name }));
    }`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", script], (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout));
    });
  });
}

describe("task module import errors", () => {
  it("a parse error names the file, line and column", async () => {
    const error = await importError("parse.mjs");
    expect(error.message).toBe(
      `tasks: could not import ${path.join(dir, "parse.mjs")}:2:11: Unexpected token ';'`,
    );
    expect(error.name).toBe("ConfigError");
    expect(error.cause).toBe("SyntaxError");
  });

  it("a missing export names the importing line", async () => {
    const error = await importError("binding.mjs");
    expect(error.message).toBe(
      `tasks: could not import ${path.join(dir, "binding.mjs")}:2:10: The requested module './helper.mjs' does not provide an export named 'nope'`,
    );
  });

  it("a parse error in an imported module says so", async () => {
    const error = await importError("outer.mjs");
    expect(error.message).toBe(
      `tasks: could not import ${path.join(dir, "outer.mjs")} (the syntax error is in a module it imports; run node --check on those): Unexpected token ';'`,
    );
  });

  it("a SyntaxError thrown by running code is located by its stack, not blamed on an import", async () => {
    const error = await importError("thrown.mjs");
    expect(error.message.startsWith(`tasks: could not import ${path.join(dir, "thrown.mjs")}:2:`)).toBe(true);
    expect(error.message).toContain("JSON");
    expect(error.message).not.toContain("module it imports");
  });

  it("a TypeScript parse error is one line naming the file, line and column", async () => {
    const error = await importError("parse.ts");
    expect(error.message.startsWith(`tasks: could not import ${path.join(dir, "parse.ts")}:2:`)).toBe(true);
    expect(error.message).not.toContain("\n");
  });
});
