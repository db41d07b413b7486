/**
 * `reproq allowlist [--write]`: prints the allowedTaskModules entries that cover exactly the
 * modules of the registered tasks, and with --write saves them into the YAML or TOML config file.
 */
import type { Command } from "commander";
import { displayPath } from "../../config/load.js";
import { ConfigError, UsageError } from "../../errors.js";
import { computeAllowList, writeAllowList } from "../../ops/allowlist.js";
import { userTaskNames } from "../../ops/doctor.js";
import { importTaskModules } from "../../worker/discovery.js";
import { type GlobalOptions, output, resolveCliConfig } from "../context.js";
import { tasksFlag } from "./sync-recurring.js";

interface AllowlistFlags {
  tasks?: string[];
  write?: boolean;
}

interface AllowlistReport {
  entries: string[];
  tasks: string[];
  /** The config file written, with --write. */
  file?: string;
}

const EXAMPLES = `
Examples:
  $ reproq allowlist --tasks "dist/tasks/**/*.js"     print one entry per line
  $ reproq allowlist --write --config reproq.yaml     save it as allowedTaskModules
  $ reproq --json allowlist                           print { entries, tasks }

Entries are task-name prefixes through the last dot ("emails." covers emails.send), or the
whole name for names without a dot. YAML files keep their comments; TOML files keep them when
the setting is a one-line list.
`;

export function registerAllowlistCommand(program: Command): void {
  program
    .command("allowlist")
    .description("print the allowedTaskModules that match the registered tasks (or --write it)")
    .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
    .option("--write", "write allowedTaskModules into the config file (--config FILE, or the one found)")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: AllowlistFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & AllowlistFlags>();
      const { flags, names } = tasksFlag(opts.tasks);
      const config = await resolveCliConfig(opts, flags, names);
      const globs = config.values.tasks;
      if (!globs?.length) {
        throw new ConfigError("no task modules configured: pass --tasks or set tasks (REPROQ_TASKS)");
      }
      await importTaskModules(globs, process.cwd());
      const tasks = userTaskNames();
      if (tasks.length === 0) throw new ConfigError("no tasks are registered by the task modules");
      const report: AllowlistReport = { entries: computeAllowList(tasks), tasks };

      if (opts.write) {
        const file = config.file;
        if (file === undefined) {
          throw new UsageError("--write: no config file; pass --config FILE (a .yaml or .toml file)");
        }
        const mode = await writeAllowList(file, report.entries);
        report.file = file;
        const shown = displayPath(file, process.cwd());
        const note = mode === "toml-rewrite" ? " (the file was re-serialized: its comments are gone)" : "";
        output(opts, report, (r) => [
          `Wrote allowedTaskModules (${r.entries.length} entr${r.entries.length === 1 ? "y" : "ies"}) to ${shown}${note}:`,
          ...r.entries.map((e) => `  ${e}`),
        ]);
        return;
      }
      output(opts, report, (r) => r.entries);
    });
}
