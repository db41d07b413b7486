/**
 * `reproq allowlist [--write]`: prints the allowedTaskModules entries that cover exactly the
 * modules of the registered tasks, and with --write saves them into the YAML or TOML config file.
 */
import { displayPath } from "../../config/load.js";
import { ConfigError, UsageError } from "../../errors.js";
import {
  type AllowListReport,
  allowListForModules,
  type WriteMode,
  writeAllowList,
} from "../../ops/allowlist.js";
import { defineCommand } from "../define.js";
import { tasksOption } from "../options.js";

interface AllowlistFlags {
  tasks?: string[];
  write?: boolean;
}

interface AllowlistOutcome {
  report: AllowListReport & { file?: string };
  /** How the config file was written, with --write. */
  mode?: WriteMode;
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

export const allowlistCommand = defineCommand<AllowlistFlags, undefined, AllowlistOutcome>({
  name: "allowlist",
  description: "print the allowedTaskModules that match the registered tasks (or --write it)",
  options: [
    tasksOption(),
    {
      flags: "--write",
      description: "write allowedTaskModules into the config file (--config FILE, or the one found)",
    },
  ],
  help: EXAMPLES,
  run: async (ctx) => {
    const globs = ctx.config.values.tasks;
    if (!globs?.length) {
      throw new ConfigError("no task modules configured: pass --tasks or set tasks (REPROQ_TASKS)");
    }
    const report = await allowListForModules(globs, ctx.cwd);
    if (!ctx.flags.write) return { report };
    const file = ctx.config.file;
    if (file === undefined) {
      throw new UsageError("--write: no config file; pass --config FILE (a .yaml or .toml file)");
    }
    const mode = await writeAllowList(file, report.entries);
    return { report: { ...report, file }, mode };
  },
  json: (outcome) => outcome.report,
  text: ({ report, mode }, ctx) => {
    if (report.file === undefined) return report.entries;
    const note = mode === "toml-rewrite" ? " (the file was re-serialized: its comments are gone)" : "";
    const count = `${report.entries.length} entr${report.entries.length === 1 ? "y" : "ies"}`;
    return [
      `Wrote allowedTaskModules (${count}) to ${displayPath(report.file, ctx.cwd)}${note}:`,
      ...report.entries.map((e) => `  ${e}`),
    ];
  },
});
