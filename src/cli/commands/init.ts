/**
 * `reproq init`: writes a starter config file in this directory, then applies migrations when a
 * database is configured (through --dsn or the environment; the file itself never holds the URL).
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { type Command, Option } from "commander";
import { CONFIG_FILE_NAMES } from "../../config/load.js";
import { renderTemplate, TEMPLATE_FILES, type TemplateFormat } from "../../config/template.js";
import { ReproqError } from "../../errors.js";
import { runMigrations } from "../../sql/migrate.js";
import { type GlobalOptions, output, resolveCliConfig, withPool } from "../context.js";

interface InitFlags {
  format: TemplateFormat;
  tasks?: string[];
  skipMigrate?: boolean;
  force?: boolean;
}

interface InitReport {
  file: string;
  format: TemplateFormat;
  /** "applied" (or up to date), "skipped" (--skip-migrate) or "no-database". */
  migrations: "applied" | "skipped" | "no-database";
  applied: Array<{ version: number; name: string }>;
}

const EXAMPLES = `
Examples:
  $ reproq init                               write reproq.yaml, migrate if DATABASE_URL is set
  $ reproq init --format toml --tasks "dist/tasks/**/*.js"
  $ reproq init --format ts --skip-migrate    write reproq.config.ts (uses defineConfig)
  $ reproq --dsn postgres://app@db/app init   write the file and create the tables

The database URL is never written to the file; set DATABASE_URL in the environment.
`;

export function registerInitCommand(program: Command): void {
  const format = new Option("--format <format>", "config file format")
    .choices(["yaml", "toml", "ts"])
    .default("yaml");
  program
    .command("init")
    .description("write a starter config file here and apply migrations when a database is configured")
    .addOption(format)
    .option("--tasks <globs...>", "task module globs to write into the file")
    .option("--skip-migrate", "only write the file")
    .option("--force", "overwrite an existing file of the same name")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: InitFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & InitFlags>();
      await init(opts);
    });
}

async function init(opts: GlobalOptions & InitFlags): Promise<void> {
  const name = TEMPLATE_FILES[opts.format];
  const file = path.resolve(name);
  refuseConflicts(name, opts.force === true);
  await writeFile(file, renderTemplate(opts.format, { tasks: opts.tasks }));

  const report: InitReport = { file, format: opts.format, migrations: "skipped", applied: [] };
  if (!opts.skipMigrate) {
    // Read after writing, so a broken template would show here and not at the user's first command.
    const config = await resolveCliConfig(opts);
    if (config.values.databaseUrl === undefined) {
      report.migrations = "no-database";
    } else {
      const result = await withPool(config, (pool) => runMigrations(pool, config.values.schema), { max: 2 });
      report.migrations = "applied";
      report.applied = result.applied;
    }
  }
  output(opts, report, (r) => describe(r, name, opts.tasks));
}

/** One config file per directory: another one would make every command refuse to guess. */
function refuseConflicts(name: string, force: boolean): void {
  if (existsSync(name) && !force) {
    throw new ReproqError("CONFLICT", `${name} already exists; pass --force to overwrite it`);
  }
  const others = CONFIG_FILE_NAMES.filter((other) => other !== name && existsSync(other));
  if (others.length > 0) {
    throw new ReproqError(
      "CONFLICT",
      `${others.join(", ")} already exists here and reproq reads one config file per directory; remove it first`,
    );
  }
}

function describe(report: InitReport, name: string, tasks: string[] | undefined): string[] {
  const migrations =
    report.migrations === "skipped"
      ? ["Migrations skipped (--skip-migrate)"]
      : report.migrations === "no-database"
        ? ["Migrations skipped: no database configured (set DATABASE_URL, then run reproq migrate)"]
        : report.applied.length === 0
          ? ["Schema is up to date"]
          : report.applied.map((m) => `Applied migration ${m.version} (${m.name})`);
  const glob = tasks?.length ? tasks.map((t) => JSON.stringify(t)).join(" ") : '"dist/tasks/**/*.js"';
  return [
    `Wrote ${name}`,
    ...migrations,
    "",
    "Next steps:",
    "  export DATABASE_URL=postgres://USER@HOST/DB   (the password stays out of the file)",
    "  npx reproq migrate                            create or upgrade the tables",
    `  npx reproq worker --tasks ${glob}`,
    `  npx reproq dev --tasks ${glob}   or: embedded database and a worker, for development`,
  ];
}
