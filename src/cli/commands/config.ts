/**
 * `reproq config [--explain]`: prints the effective configuration, and with --explain
 * where each value came from. Never connects to the database, so it works while the
 * database URL itself is what is being debugged. Secrets are always masked.
 */
import { type ConfigReport, describeConfig } from "../../ops/config.js";
import { formatTable } from "../context.js";
import { defineCommand } from "../define.js";

const EXAMPLES = `
Examples:
  $ reproq config                       print every setting as key = value
  $ reproq config --explain             add where each value came from
  $ reproq --config deploy/reproq.toml --dsn postgres://app@db/app config --explain
  $ reproq --json config                print [{ key, value, source }, ...]
`;

interface ConfigFlags {
  explain?: boolean;
}

export const configCommand = defineCommand<ConfigFlags, undefined, ConfigReport>({
  name: "config",
  description: "print the effective configuration (secrets masked)",
  options: [{ flags: "--explain", description: "show where each value came from, and the config file used" }],
  help: EXAMPLES,
  run: (ctx) => describeConfig(ctx.config, ctx.cwd),
  json: (report) => report.settings.map(({ key, value, source }) => ({ key, value, source })),
  text: (report, ctx) =>
    ctx.flags.explain ? explained(report) : report.settings.map((s) => `${s.key} = ${s.display}`),
});

function explained(report: ConfigReport): string[] {
  return [
    report.file === undefined ? "No config file" : `Config file: ${report.file}`,
    "",
    ...formatTable(
      ["KEY", "VALUE", "SOURCE"],
      report.settings.map((s) => [s.key, s.display, s.source]),
    ),
  ];
}
