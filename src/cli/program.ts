/**
 * Builds the `reproq` command tree. Global options live on the root command and every
 * subcommand reads them with optsWithGlobals(). Commander never exits the process or
 * prints errors itself: exitOverride() turns its exits into thrown CommanderErrors, and
 * main.ts decides the message and the exit code, so all errors look alike.
 */
import { Command } from "commander";
import { PACKAGE_VERSION } from "../version.js";
import { registerAllowlistCommand } from "./commands/allowlist.js";
import { registerBeatCommand } from "./commands/beat.js";
import { registerCancelCommand } from "./commands/cancel.js";
import { registerConfigCommand } from "./commands/config.js";
import { registerDevCommand } from "./commands/dev.js";
import { registerDoctorCommands } from "./commands/doctor.js";
import { registerInitCommand } from "./commands/init.js";
import { registerLimitCommand } from "./commands/limit.js";
import { registerLogsCommand } from "./commands/logs.js";
import { registerMigrateCommand } from "./commands/migrate.js";
import { registerPgCronCommand } from "./commands/pg-cron.js";
import { registerPruneCommands } from "./commands/prune.js";
import { registerPruneWorkersCommand } from "./commands/prune-workers.js";
import { registerQueueCommands } from "./commands/queues.js";
import { registerReclaimCommand } from "./commands/reclaim.js";
import { registerReplayCommand } from "./commands/replay.js";
import { registerScheduleCommand } from "./commands/schedule.js";
import { registerStatsCommand } from "./commands/stats.js";
import { registerStressTestCommand } from "./commands/stress-test.js";
import { registerSyncRecurringCommand } from "./commands/sync-recurring.js";
import { registerSystemdCommand } from "./commands/systemd.js";
import { registerTriageCommand } from "./commands/triage.js";
import { registerUpgradeCommand } from "./commands/upgrade.js";
import { registerWorkerCommand } from "./commands/worker.js";

const EXAMPLES = `
Examples:
  $ reproq migrate                      create or upgrade Reproq's tables
  $ reproq migrate --check              exit 1 while migrations are pending
  $ reproq config --explain             show each setting and where it came from
  $ reproq dev --tasks src/tasks.mjs    embedded database, migrations and a worker in one go
  $ reproq cancel --id 42               cancel a run
  $ reproq --dsn postgres://app@db/app --json migrate --check

Exit status: 0 success, 1 failure, 2 usage or configuration error.
`;

export function buildProgram(): Command {
  const program = new Command("reproq")
    .description("Deterministic background tasks for Node.js on PostgreSQL.")
    .version(PACKAGE_VERSION, "-V, --version", "print the reproq version")
    .option(
      "--config <file>",
      "config file (default: $REPROQ_CONFIG, else reproq.yaml etc. in this directory)",
    )
    .option("--dsn <url>", "PostgreSQL URL (overrides REPROQ_DATABASE_URL and DATABASE_URL)")
    .option("--schema <name>", 'PostgreSQL schema holding Reproq\'s tables (default "reproq")')
    .option("--json", "print machine-readable JSON where the output is data")
    .option("--verbose", "on errors, also print the stack trace and cause")
    .addHelpText("after", EXAMPLES);

  // These settings are copied to subcommands when they are created, so they come before the commands.
  program
    .exitOverride()
    .configureOutput({
      // main.ts prints the error as a single `reproq: ...` line; printing here too would double it.
      outputError: () => {},
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true });

  registerMigrateCommand(program);
  registerConfigCommand(program);
  registerWorkerCommand(program);
  registerDevCommand(program);
  registerCancelCommand(program);
  registerReclaimCommand(program);
  registerPruneWorkersCommand(program);
  registerLogsCommand(program);
  registerLimitCommand(program);
  registerQueueCommands(program);
  registerBeatCommand(program);
  registerScheduleCommand(program);
  registerSyncRecurringCommand(program);
  registerPgCronCommand(program);
  registerInitCommand(program);
  registerDoctorCommands(program);
  registerAllowlistCommand(program);
  registerSystemdCommand(program);
  registerStressTestCommand(program);
  registerUpgradeCommand(program);
  registerStatsCommand(program);
  registerTriageCommand(program);
  registerReplayCommand(program);
  registerPruneCommands(program);
  return program;
}
