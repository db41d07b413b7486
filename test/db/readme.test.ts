/**
 * The README's code blocks marked `runnable` run as written: its ```ts runnable blocks are written
 * to a scratch project under the name of their first-line comment (`// tasks.ts`), then each line
 * of its ```sh runnable block runs there as a shell command (a line ending in `&` in the
 * background, stopped at the end), against this file's database. The project gets `reproq` (this
 * checkout, built) and `tsx` as an installed package would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cleanEnv } from "../support/cli.js";
import { useTestDatabase } from "../support/db.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ctx = useTestDatabase();

interface Block {
  lang: string;
  code: string;
}

async function runnableBlocks(): Promise<Block[]> {
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  return [...readme.matchAll(/^```(\w+) runnable\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] ?? "",
    code: m[2] ?? "",
  }));
}

/** A scratch project where `reproq` and `tsx` are installed, as `npm install` would leave them. */
async function scratchProject(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "reproq-readme-"));
  await writeFile(path.join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
  const bin = path.join(dir, "node_modules", ".bin");
  await mkdir(bin, { recursive: true });
  await symlink(ROOT, path.join(dir, "node_modules", "reproq"));
  await symlink(path.join(ROOT, "node_modules", "tsx"), path.join(dir, "node_modules", "tsx"));
  await symlink(path.join(ROOT, "node_modules", ".bin", "tsx"), path.join(bin, "tsx"));
  const reproqBin = path.join(bin, "reproq");
  await writeFile(
    reproqBin,
    `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, "dist/cli/main.js")}" "$@"\n`,
  );
  await chmod(reproqBin, 0o755);
  return dir;
}

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function shell(command: string, cwd: string): { child: ChildProcess; done: Promise<Done> } {
  const child = spawn("sh", ["-c", command], {
    cwd,
    // Its own process group, so stopping a background command stops what npx started too.
    detached: true,
    env: cleanEnv({
      DATABASE_URL: ctx.db.url,
      PATH: `${path.join(cwd, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}`,
      // npx must find the project's own bins, never fetch a package.
      npm_config_offline: "true",
      npm_config_update_notifier: "false",
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<Done>((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

const background: { child: ChildProcess; done: Promise<Done> }[] = [];
let project = "";

afterAll(async () => {
  for (const { child, done } of background) {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    await done;
  }
  if (project) await rm(project, { recursive: true, force: true });
});

describe("the README", () => {
  it("runs its runnable snippets as written: a worker on tasks.ts, and producer.ts printing what it says", async () => {
    const blocks = await runnableBlocks();
    const files = blocks.filter((b) => b.lang === "ts");
    const commands = blocks.filter((b) => b.lang === "sh");
    expect(files.map((b) => b.code.split("\n")[0])).toEqual(["// tasks.ts", "// producer.ts"]);
    expect(commands).toHaveLength(1);

    project = await scratchProject();
    for (const file of files) {
      const name = /^\/\/ (\S+)/.exec(file.code)?.[1] ?? "";
      await writeFile(path.join(project, name), file.code);
    }
    // What the producer prints, as its snippet says in the comment on its console.log line.
    const producer = files[1]?.code ?? "";
    const expected = /console\.log\(.*\); \/\/ (.+)$/m.exec(producer)?.[1];
    expect(expected).toBe("SUCCESSFUL 3");

    let last: Done | undefined;
    for (const raw of (commands[0]?.code ?? "").split("\n")) {
      const line = raw.replace(/\s+#.*$/, "").trim();
      if (!line) continue;
      if (line.endsWith("&")) {
        background.push(shell(line.slice(0, -1).trim(), project));
      } else {
        last = await shell(line, project).done;
        expect(last.code, `${line}\n${last.stderr}`).toBe(0);
      }
    }
    expect(last?.stdout.trim()).toBe(expected);
  }, 90_000);
});
