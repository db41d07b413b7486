/**
 * The allow-list a worker needs for the registered tasks, and writing it into a config file.
 * Entries are name prefixes up to the last dot ("emails." covers emails.send and emails.digest),
 * so adding a task to an existing module needs no allow-list change.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { parseDocument } from "yaml";
import { ConfigError, UsageError } from "../errors.js";
import { importTaskModules } from "../worker/discovery.js";
import { userTaskNames } from "./doctor.js";

/** Distinct prefixes (through the last dot) of the names; a name without a dot stays whole. Sorted. */
export function computeAllowList(taskNames: readonly string[]): string[] {
  const entries = new Set<string>();
  for (const name of taskNames) {
    const dot = name.lastIndexOf(".");
    entries.add(dot > 0 ? name.slice(0, dot + 1) : name);
  }
  return [...entries].sort();
}

export interface AllowListReport {
  /** allowedTaskModules entries that cover exactly the registered tasks. */
  entries: string[];
  /** The registered task names (built-in tasks left out), sorted. */
  tasks: string[];
}

/** Imports the task modules (globs relative to `cwd`) and computes the allow-list of what they register. */
export async function allowListForModules(globs: readonly string[], cwd: string): Promise<AllowListReport> {
  await importTaskModules(globs, cwd);
  const tasks = userTaskNames();
  if (tasks.length === 0) throw new ConfigError("no tasks are registered by the task modules");
  return { entries: computeAllowList(tasks), tasks };
}

/** How the file was rewritten: TOML loses its comments when it has to be re-serialized. */
export type WriteMode = "yaml" | "toml-edit" | "toml-rewrite";

/**
 * Sets allowedTaskModules in a YAML or TOML config file, keeping every other setting (and YAML
 * comments). Other formats are a UsageError: code cannot be edited safely.
 */
export async function writeAllowList(file: string, entries: readonly string[]): Promise<WriteMode> {
  const ext = path.extname(file).toLowerCase();
  const text = await readFile(file, "utf8");
  if (ext === ".yaml" || ext === ".yml") {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) throw new UsageError(`${file}: ${doc.errors[0]?.message.split("\n")[0]}`);
    doc.set("allowedTaskModules", doc.createNode([...entries], { flow: false }));
    await writeFile(file, doc.toString());
    return "yaml";
  }
  if (ext === ".toml") {
    const edited = editTomlText(text, entries);
    if (edited !== undefined) {
      await writeFile(file, edited);
      return "toml-edit";
    }
    const table = parseToml(text);
    table.allowedTaskModules = [...entries];
    await writeFile(file, `${stringifyToml(table)}\n`);
    return "toml-rewrite";
  }
  throw new UsageError(
    `--write supports YAML and TOML config files, not ${path.basename(file)}; set allowedTaskModules there by hand`,
  );
}

/**
 * Replaces (or adds) a top-level `allowedTaskModules = [...]` line in place, so comments survive.
 * Returns undefined when the result would not parse back to the same list (then the caller
 * re-serializes the whole file).
 */
function editTomlText(text: string, entries: readonly string[]): string | undefined {
  const line = `allowedTaskModules = [${entries.map((e) => JSON.stringify(e)).join(", ")}]`;
  const existing = /^allowedTaskModules\s*=\s*\[[^\]]*\][^\n]*$/m;
  let edited: string;
  if (existing.test(text)) {
    edited = text.replace(existing, line);
  } else {
    // Top-level keys must come before the first [table]; Reproq's settings are all top-level.
    const table = /^\s*\[/m.exec(text);
    edited =
      table === null
        ? `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${line}\n`
        : `${text.slice(0, table.index)}${line}\n\n${text.slice(table.index)}`;
  }
  try {
    const parsed = parseToml(edited).allowedTaskModules;
    if (Array.isArray(parsed) && JSON.stringify(parsed) === JSON.stringify(entries)) return edited;
  } catch {
    // Fall through to a full rewrite.
  }
  return undefined;
}
