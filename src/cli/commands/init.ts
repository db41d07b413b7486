/**
 * `reproq init`: writes a starter config file in this directory, then applies migrations when a
 * database is configured (through --dsn or the environment; the file itself never holds the URL).
 */
import path from "node:path";
import type { TemplateFormat } from "../../config/template.js";
import { writeStarterConfig } from "../../ops/init.js";
import { applyMigrations, type MigrationRef } from "../../ops/migrate.js";
import { defineCommand } from "../define.js";

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
  applied: MigrationRef[];
}

const EXAMPLES = `
Examples:
  $ reproq init                               write reproq.yaml, migrate if DATABASE_URL is set
  $ reproq init --format toml --tasks "dist/tasks/**/*.js"
  $ reproq init --format ts --skip-migrate    write reproq.config.ts (uses defineConfig)
  $ reproq --dsn postgres://app@db/app init   write the file and create the tables

The database URL is never written to the file; set DATABASE_URL in the environment.
`;

export const initCommand = defineCommand<InitFlags, undefined, InitReport>({
  name: "init",
  description: "write a starter config file here and apply migrations when a database is configured",
  options: [
    {
      flags: "--format <format>",
      description: "config file format",
      choices: ["yaml", "toml", "ts"],
      default: "yaml",
    },
    { flags: "--tasks <globs...>", description: "task module globs to write into the file" },
    { flags: "--skip-migrate", description: "only write the file" },
    { flags: "--force", description: "overwrite an existing file of the same name" },
  ],
  help: EXAMPLES,
  // Read after writing, so a broken template would show here and not at the user's first command.
  config: "none",
  database: { max: 2 },
  run: async (ctx) => {
    const { flags } = ctx;
    const written = await writeStarterConfig({
      format: flags.format,
      tasks: flags.tasks,
      force: flags.force,
      cwd: ctx.cwd,
    });
    const report: InitReport = {
      file: written.file,
      format: written.format,
      migrations: "skipped",
      applied: [],
    };
    if (flags.skipMigrate) return report;
    const config = await ctx.loadConfig();
    if (config.values.databaseUrl === undefined) return { ...report, migrations: "no-database" };
    const migrated = await applyMigrations(ctx.db, ctx.schema);
    return { ...report, migrations: "applied", applied: migrated.applied ?? [] };
  },
  text: (report, ctx) => describe(report, ctx.flags.tasks),
});

function describe(report: InitReport, tasks: string[] | undefined): string[] {
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
    `Wrote ${path.basename(report.file)}`,
    ...migrations,
    "",
    "Next steps:",
    "  export DATABASE_URL=postgres://USER@HOST/DB   (the password stays out of the file)",
    "  npx reproq migrate                            create or upgrade the tables",
    `  npx reproq worker --tasks ${glob}`,
    `  npx reproq dev --tasks ${glob}   or: embedded database and a worker, for development`,
  ];
}
