/**
 * Task discovery and the allow-list. The worker imports only the modules named in its
 * configuration (never a path taken from the database) and runs only registered tasks
 * whose names the allow-list accepts.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
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
      // One line: a TypeScript parse error names `file:line:column` on a line of its own.
      let message = ((error as Error)?.message ?? String(error)).replace(/\s*\n\s*/g, " ").trim();
      let at = error instanceof SyntaxError ? syntaxErrorLocation(error, file) : file;
      const position = message.indexOf(`${file}:`);
      if (at === file && position !== -1) {
        at = message.slice(position).split(" ")[0]!;
        message = `${message.slice(0, position)}${message.slice(position + at.length)}`.trim();
      }
      throw new ConfigError(`tasks: could not import ${at}: ${message}`, { cause: error });
    }
  }
  return files;
}

/**
 * `file` with where its SyntaxError is: `file:line:column`, or `file (… in path:line)` when the
 * error is in a module it imports; a SyntaxError thrown by running code (a bad JSON.parse) is
 * located by its stack. Node puts the location in the stack for a bad import binding but
 * not for a parse error of an ES module; then `node --check` on the file reports it.
 */
function syntaxErrorLocation(error: SyntaxError, file: string): string {
  const located = (where: string, line: string, column?: number) => {
    const position = `${line}${column === undefined ? "" : `:${column}`}`;
    return where === file ? `${file}:${position}` : `${file} (the error is in ${where}:${position})`;
  };
  const inStack = /^(file:\/\/\S+?|\/\S+?):(\d+)\n[^\n]*\n( *)\^/.exec(error.stack ?? "");
  if (inStack) {
    const where = inStack[1]!.startsWith("file:") ? fileURLToPath(inStack[1]!) : inStack[1]!;
    return located(where, inStack[2]!, inStack[3]!.length + 1);
  }
  // Thrown by running code (JSON.parse, new RegExp, eval), not a parse error: the stack has a frame
  // in a module of the application; that is where it happened.
  const thrown = /^\s+at (?:.*? \()?((?:file:\/\/|\/)[^():]+):(\d+):(\d+)\)?$/m.exec(error.stack ?? "");
  if (thrown) {
    const where = thrown[1]!.startsWith("file:") ? fileURLToPath(thrown[1]!) : thrown[1]!;
    return located(where, thrown[2]!, Number(thrown[3]));
  }
  if (TS_EXTENSIONS.has(path.extname(file))) return file;
  const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
  if (check.status === 0)
    return `${file} (the syntax error is in a module it imports; run node --check on those)`;
  const found = /^(.+):(\d+)\n[^\n]*\n( *)\^/.exec(check.stderr ?? "");
  return found ? located(found[1]!, found[2]!, found[3]!.length + 1) : file;
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
