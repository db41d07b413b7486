// Helpers shared by the benches (bench/runner/*.mjs):
// the database server, machine facts, percentiles and number formatting.
import { execFileSync, spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { embeddedDatabaseUrl, startEmbeddedPostgres } from "../../dist/db/embedded.js";

/**
 * DATABASE_URL's server when set, else an embedded PostgreSQL in `dataDir` with default durability.
 * Returns helpers to create and drop scratch databases whose names start with `prefix`.
 */
export async function openServer({ dataDir, prefix }) {
  let server;
  let adminUrl = process.env.DATABASE_URL;
  let where;
  if (adminUrl) {
    where = "DATABASE_URL server (scratch databases)";
  } else {
    server = await startEmbeddedPostgres({ dataDir: path.resolve(dataDir) });
    adminUrl = server.url;
    where = `embedded PostgreSQL in ${dataDir} (scratch databases)`;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  if (server) {
    // The embedded cluster is the bench's own: scratch databases of interrupted runs can go.
    const { rows } = await admin.query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", [
      prefix,
    ]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  }
  const created = [];
  return {
    where,
    async createDatabase(name) {
      const full = `${prefix}${name}`;
      await admin.query(`CREATE DATABASE "${full}"`);
      created.push(full);
      return server ? embeddedDatabaseUrl(server, full) : withDatabase(adminUrl, full);
    },
    async close() {
      for (const name of created) {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
      }
      await admin.end().catch(() => {});
      await server?.stop();
    },
  };
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function serverInfo(client) {
  const one = async (q) => Object.values((await client.query(q)).rows[0])[0];
  return {
    version: await one("SELECT version()"),
    fsync: await one("SHOW fsync"),
    synchronousCommit: await one("SHOW synchronous_commit"),
    sharedBuffers: await one("SHOW shared_buffers"),
    maxConnections: await one("SHOW max_connections"),
  };
}

export function revision() {
  // Read-only: --no-optional-locks keeps status from refreshing the index behind a committer's back.
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: "pipe",
    }).trim();
    const dirty = execFileSync("git", ["--no-optional-locks", "status", "--porcelain", "--", "src"], {
      encoding: "utf8",
      stdio: "pipe",
    });
    return `${head}${dirty.trim() ? " with uncommitted changes in src/" : ""}`;
  } catch {
    return "unknown";
  }
}

export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`;
}

export function loadAverage() {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

/** VmRSS of a live process in bytes (Linux), or null. */
export async function vmRss(pid) {
  try {
    const { readFile } = await import("node:fs/promises");
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const hit = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return hit ? Number(hit[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return [at(50), at(95), at(99)];
}

export function median(values) {
  return percentiles(values)[0];
}

export function ms(value) {
  return `${value.toFixed(value >= 100 ? 0 : 2)} ms`;
}

export function fmt(n) {
  return Math.round(n).toLocaleString("en-US");
}

export function sleep(msDelay) {
  return new Promise((resolve) => setTimeout(resolve, msDelay));
}

/** The number given as `--name=N` on the command line, or `fallback`. */
export function numericFlag(name, fallback) {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
}

/** The string given as `--name=value` on the command line, or `fallback`. */
export function stringFlag(name, fallback) {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
}

/**
 * Enqueues `n` runs of `task` (argument i for the i-th, so no two are deduplicated) through
 * `backend.bulkEnqueue`, one statement per chunk of `chunk`, with options(i) per run when it
 * returns any; returns tasks/s.
 */
export async function bulkEnqueueRuns(backend, task, n, { options = () => undefined, chunk = 5_000 } = {}) {
  const t0 = performance.now();
  for (let done = 0; done < n; done += chunk) {
    const size = Math.min(chunk, n - done);
    await backend.bulkEnqueue(
      Array.from({ length: size }, (_, k) => {
        const o = options(done + k);
        return o ? [task, [done + k], o] : [task, [done + k]];
      }),
    );
  }
  return n / ((performance.now() - t0) / 1000);
}

/**
 * The opening lines of a Reproq-only bench's markdown report: title, date and code revision,
 * machine with the load average before and now, node, and the database lines (`databaseLines`).
 */
export function reportHeader({ title, loadBefore, databaseLines }) {
  const load = (l) => l.map((x) => x.toFixed(2)).join(" ");
  return [
    `# ${title}`,
    "",
    `- date: ${new Date().toISOString()}; code: ${revision()}`,
    `- machine: ${machine()}; load average before ${load(loadBefore)}, after ${load(os.loadavg())}`,
    `- node: ${process.version}`,
    ...databaseLines,
  ];
}

/** A markdown table: the header cells, the separator, one line per row of cells. */
export function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)];
}

/**
 * Starts `reproq worker` (the built CLI) in a process of its own on the bench's task module, with
 * a neutral cwd and `args` added (--dsn, --queues, ...). Its JSON log lines go to stderr: kept, and
 * shown only if it exits with an error. stop() sends SIGTERM and waits for the exit (15 s at most).
 */
export function spawnReproqWorker(args) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const child = spawn(
    process.execPath,
    [
      path.join(root, "dist/cli/main.js"),
      "worker",
      "--tasks",
      path.join(root, "bench/adapters/reproq-tasks.mjs"),
      ...args,
    ],
    { cwd: os.tmpdir(), stdio: ["ignore", "ignore", "pipe"] },
  );
  const chunks = [];
  child.stderr.on("data", (chunk) => chunks.push(chunk));
  const exit = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      if (code && signal !== "SIGTERM") process.stderr.write(Buffer.concat(chunks));
      resolve();
    });
  });
  return {
    child,
    stop: async () => {
      child.kill("SIGTERM");
      await Promise.race([exit, sleep(15_000)]);
    },
  };
}
