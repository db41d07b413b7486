/**
 * The embedded PostgreSQL that `reproq dev`, the quick start and the test harness start when no
 * database URL is set: it starts from awkward places, and a start that cannot work fails with
 * one line saying what to do. Each test starts a private cluster of its own.
 */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../src/db/embedded.js";

const isRoot = process.getuid?.() === 0;
const started: EmbeddedPostgres[] = [];
const cleanup: string[] = [];

afterEach(async () => {
  for (const server of started.splice(0)) {
    await server.stop();
    cleanup.push(server.dataDir);
  }
  for (const dir of cleanup.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A scratch folder readable by everyone (as mkdtemp's 0700 folders are not). */
async function scratch(mode = 0o755): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "reproq-embedded-"));
  await chmod(dir, mode);
  cleanup.push(dir);
  return dir;
}

async function start(dataDir: string, port?: number): Promise<EmbeddedPostgres> {
  const server = await startEmbeddedPostgres({ dataDir, port, fast: true });
  started.push(server);
  return server;
}

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one ?? 0;
  } finally {
    await client.end();
  }
}

/** The message of the error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected the start to fail");
}

describe("the embedded PostgreSQL", () => {
  it.runIf(isRoot)(
    "starts as root with its data asked for under a private (0700) folder, such as /root",
    async () => {
      const home = await scratch(0o700);
      const dataDir = path.join(home, "checkout", ".reproq", "dev-pg");
      const server = await start(dataDir);
      expect(await selectOne(server.url)).toBe(1);
      // The server's user could not reach the folder asked for: the data is kept where it can, with
      // a symlink in its place, so `.reproq/dev-pg/...` still finds it.
      expect((await lstat(dataDir)).isSymbolicLink()).toBe(true);
      expect(await realpath(dataDir)).toBe(server.dataDir);
      expect(existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true);
      // The project's folders stay the caller's.
      expect((await stat(path.join(home, "checkout", ".reproq"))).uid).toBe(0);

      // A second start finds the server running and reuses it; after a stop, it starts again.
      const again = await startEmbeddedPostgres({ dataDir, fast: true });
      expect([again.reused, again.port]).toEqual([true, server.port]);
      await server.stop();
      started.splice(0);
      const restarted = await start(dataDir);
      expect([restarted.reused, await selectOne(restarted.url)]).toEqual([false, 1]);
    },
    60_000,
  );

  it.runIf(isRoot)(
    "leaves the project's .reproq/ folder owned by its owner, not by the postgres user",
    async () => {
      const project = await scratch();
      const dotReproq = path.join(project, ".reproq");
      await mkdir(dotReproq);
      // As an earlier version left it: handed to the server's user.
      const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
      await chown(dotReproq, id("-u"), id("-g"));
      const server = await start(path.join(dotReproq, "dev-pg"));
      expect(await selectOne(server.url)).toBe(1);
      expect((await stat(dotReproq)).uid).toBe(0);
      expect((await lstat(path.join(dotReproq, "dev-pg"))).isDirectory()).toBe(true);
    },
    60_000,
  );

  it("starts over a stale postmaster.pid whose pid now belongs to another process", async () => {
    const dataDir = path.join(await scratch(), "pg");
    const first = await start(dataDir);
    await first.stop();
    started.splice(0);
    // As after a crash and a reboot: the file names a live process that is not PostgreSQL.
    const stale = [process.pid, dataDir, "0", String(first.port), "", "127.0.0.1", "0 0", "ready", ""];
    await writeFile(path.join(dataDir, "postmaster.pid"), stale.join("\n"));
    const server = await start(dataDir);
    expect([server.reused, await selectOne(server.url)]).toEqual([false, 1]);
  }, 60_000);

  it("takes another port when the one asked for is in use", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    const taken = typeof address === "object" && address ? address.port : 0;
    try {
      const server = await start(path.join(await scratch(), "pg"), taken);
      expect(server.port).not.toBe(taken);
      expect(await selectOne(server.url)).toBe(1);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 60_000);

  it("refuses a data folder that holds other files, in one line saying what to do", async () => {
    const dataDir = path.join(await scratch(), "pg");
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, "notes.txt"), "mine");
    const message = await failure(start(dataDir));
    expect(message).toBe(
      `embedded PostgreSQL: ${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); empty or remove it, pass another folder, or set DATABASE_URL to use a PostgreSQL server of your own`,
    );
    expect(await readFile(path.join(dataDir, "notes.txt"), "utf8")).toBe("mine");
  }, 60_000);

  it("reports a server that cannot start in one line with PostgreSQL's reason", async () => {
    const dataDir = path.join(await scratch(), "pg");
    const first = await start(dataDir);
    await first.stop();
    started.splice(0);
    // A cluster of another major version than the binaries.
    await writeFile(path.join(dataDir, "PG_VERSION"), "11\n");
    const message = await failure(start(dataDir));
    expect(message).toMatch(
      /^embedded PostgreSQL: the server in .+ did not start: database files are incompatible with server; or set DATABASE_URL to use a PostgreSQL server of your own$/,
    );
  }, 60_000);
});
