/**
 * Task discovery and the allow-list. The worker imports only the modules named in its
 * configuration (never a path taken from the database) and runs only registered tasks
 * whose names the allow-list accepts.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { glob } from "tinyglobby";
import { ConfigError } from "../errors.js";

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);

/** Imports every module matched by the globs (relative to cwd). Returns the files imported. */
export async function importTaskModules(patterns: readonly string[], cwd: string): Promise<string[]> {
  const files: string[] = [];
  for (const pattern of patterns) {
    const matched = existsSync(path.resolve(cwd, pattern))
      ? [path.resolve(cwd, pattern)]
      : await glob(pattern, { cwd, absolute: true, onlyFiles: true });
    if (matched.length === 0) {
      throw new ConfigError(
        `tasks: "${pattern}" matches no file (relative to ${cwd}); check the path or glob`,
      );
    }
    files.push(...matched.sort());
  }
  for (const file of files) {
    try {
      if (TS_EXTENSIONS.has(path.extname(file))) {
        const { createJiti } = await import("jiti");
        await createJiti(import.meta.url, { interopDefault: true }).import(file);
      } else {
        await import(pathToFileURL(file).href);
      }
    } catch (error) {
      throw new ConfigError(
        `tasks: could not import ${file}: ${(error as Error)?.message ?? String(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  return files;
}

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      const double = pattern[i + 1] === "*";
      source += double ? ".*" : "[^.]*";
      if (double) i++;
    } else if (ch === "?") source += ".";
    else source += ch.replace(/[\\^$+.()|[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/**
 * Allow-list of task names: an entry with `*` or `?` is a glob (`*` stays within one dotted
 * segment, `**` crosses them); any other entry is a prefix ("emails." allows "emails.send").
 * No entries (unset) allows every registered task.
 */
export function makeAllowList(entries: readonly string[] | undefined): (taskName: string) => boolean {
  if (!entries || entries.length === 0) return () => true;
  const globs = entries.filter((e) => /[*?]/.test(e)).map(globToRegExp);
  const prefixes = entries.filter((e) => !/[*?]/.test(e));
  return (name) => prefixes.some((p) => name === p || name.startsWith(p)) || globs.some((g) => g.test(name));
}

/** Translates worker queue globs to exact names and SQL LIKE patterns. */
export function queueFilter(queues: readonly string[]): { names: string[]; patterns: string[] } {
  const names: string[] = [];
  const patterns: string[] = [];
  for (const queue of queues) {
    if (queue.includes("*") || queue.includes("?")) {
      patterns.push(
        queue
          .replace(/[\\%_]/g, "\\$&")
          .replaceAll("*", "%")
          .replaceAll("?", "_"),
      );
    } else names.push(queue);
  }
  return { names, patterns };
}

/** Whether a queue name is served by the given worker queues (same rules as the claim query). */
export function servesQueue(queues: readonly string[], queue: string): boolean {
  return queues.some((q) =>
    q.includes("*") || q.includes("?")
      ? new RegExp(
          `^${q
            .replace(/[\\^$+.()|[\]{}]/g, "\\$&")
            .replaceAll("*", ".*")
            .replaceAll("?", ".")}$`,
        ).test(queue)
      : q === queue,
  );
}
