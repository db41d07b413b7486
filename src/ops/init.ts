/**
 * Starting a project: a starter config file in a directory. One config file per directory, so
 * another one already there (of any name) is a conflict, and the same name needs `force`.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { CONFIG_FILE_NAMES } from "../config/load.js";
import { renderTemplate, TEMPLATE_FILES, type TemplateFormat } from "../config/template.js";
import { ReproqError } from "../errors.js";

export interface StarterConfigOptions {
  format: TemplateFormat;
  /** Task module globs written into the file. */
  tasks?: readonly string[];
  /** Overwrite a file of the same name. */
  force?: boolean;
  /** The directory to write into. */
  cwd: string;
}

export interface StarterConfig {
  /** The file name, e.g. reproq.yaml. */
  name: string;
  /** Its absolute path. */
  file: string;
  format: TemplateFormat;
}

/** Writes the starter file; a CONFLICT ReproqError when it (or another config file) already exists. */
export async function writeStarterConfig(options: StarterConfigOptions): Promise<StarterConfig> {
  const name = TEMPLATE_FILES[options.format];
  refuseConflicts(options.cwd, name, options.force === true);
  const file = path.resolve(options.cwd, name);
  await writeFile(file, renderTemplate(options.format, { tasks: options.tasks }));
  return { name, file, format: options.format };
}

/** One config file per directory: another one would make every command refuse to guess. */
function refuseConflicts(cwd: string, name: string, force: boolean): void {
  const exists = (file: string) => existsSync(path.join(cwd, file));
  if (exists(name) && !force) {
    throw new ReproqError("CONFLICT", `${name} already exists; pass --force to overwrite it`);
  }
  const others = CONFIG_FILE_NAMES.filter((other) => other !== name && exists(other));
  if (others.length > 0) {
    throw new ReproqError(
      "CONFLICT",
      `${others.join(", ")} already exists here and reproq reads one config file per directory; remove it first`,
    );
  }
}
