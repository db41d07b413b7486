/**
 * `reproq config [--explain]`: prints the effective configuration, and with --explain
 * where each value came from. Never connects to the database, so it works while the
 * database URL itself is what is being debugged. Secrets are always masked.
 */
import type { Command } from "commander";
import { displayPath, explainConfig, maskSecret, type ResolvedConfig } from "../../config/load.js";
import { isSecretKey } from "../../config/schema.js";
import { formatTable, type GlobalOptions, output, resolveCliConfig } from "../context.js";

interface ConfigOptions {
  explain?: boolean;
}

/** One --json entry. `value` keeps its type (number, list, null when unset) except secrets, which are masked text. */
interface ConfigEntry {
  key: string;
  value: unknown;
  source: string;
}

const EXAMPLES = `
Examples:
  $ reproq config                       print every setting as key = value
  $ reproq config --explain             add where each value came from
  $ reproq --config deploy/reproq.toml --dsn postgres://app@db/app config --explain
  $ reproq --json config                print [{ key, value, source }, ...]
`;

export function registerConfigCommand(program: Command): void {
  program
    .command("config")
    .description("print the effective configuration (secrets masked)")
    .option("--explain", "show where each value came from, and the config file used")
    .addHelpText("after", EXAMPLES)
    .action(async (_options: ConfigOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & ConfigOptions>();
      const config = await resolveCliConfig(opts);
      const rows = explainConfig(config);
      const values = config.values as Record<string, unknown>;
      const entries: ConfigEntry[] = rows.map((row) => ({
        key: row.key,
        value: isSecretKey(row.key) ? maskedOrNull(row.key, values[row.key]) : (values[row.key] ?? null),
        source: row.source,
      }));
      output(opts, entries, () => {
        if (!opts.explain) return rows.map((row) => `${row.key} = ${row.value}`);
        return [
          configFileLine(config),
          "",
          ...formatTable(
            ["KEY", "VALUE", "SOURCE"],
            rows.map((row) => [row.key, row.value, row.source]),
          ),
        ];
      });
    });
}

function maskedOrNull(key: string, value: unknown): string | null {
  return value === undefined || value === null ? null : maskSecret(key, value);
}

function configFileLine(config: ResolvedConfig): string {
  if (config.file === undefined) return "No config file";
  return `Config file: ${displayPath(config.file, process.cwd())}`;
}
