/**
 * Builds the `reproq` command tree. Global options live on the root command and every
 * subcommand reads them with optsWithGlobals(). Commander never exits the process or
 * prints errors itself: exitOverride() turns its exits into thrown CommanderErrors, and
 * main.ts decides the message and the exit code, so all errors look alike.
 */
import { Command } from "commander";
import { PACKAGE_VERSION } from "../version.js";
import { allowlistCommand } from "./commands/allowlist.js";
import { beatCommand, scheduleCommand } from "./commands/beat.js";
import { cancelCommand } from "./commands/cancel.js";
import { configCommand } from "./commands/config.js";
import { devCommand } from "./commands/dev.js";
import { checkCommand, doctorCommand } from "./commands/doctor.js";
import { initCommand } from "./commands/init.js";
import { limitCommand } from "./commands/limit.js";
import { logsCommand } from "./commands/logs.js";
import { migrateCommand } from "./commands/migrate.js";
import { pgCronCommand } from "./commands/pg-cron.js";
import { pruneCommand, pruneSuccessfulCommand } from "./commands/prune.js";
import { pruneWorkersCommand } from "./commands/prune-workers.js";
import { pauseQueueCommand, resumeQueueCommand } from "./commands/queues.js";
import { reclaimCommand } from "./commands/reclaim.js";
import { replayCommand } from "./commands/replay.js";
import { runsCommand } from "./commands/runs.js";
import { schedulesCommand } from "./commands/schedules.js";
import { serveCommand } from "./commands/serve.js";
import { statsCommand } from "./commands/stats.js";
import { stressTestCommand } from "./commands/stress-test.js";
import { syncRecurringCommand } from "./commands/sync-recurring.js";
import { systemdCommand } from "./commands/systemd.js";
import { tokenCommand } from "./commands/token.js";
import { triageCommand } from "./commands/triage.js";
import { upgradeCommand } from "./commands/upgrade.js";
import { workerCommand } from "./commands/worker.js";
import type { CommandDefinition } from "./define.js";

/** Every command; --help lists them sorted, so this order is only the order of registration. */
const COMMANDS: readonly CommandDefinition[] = [
  migrateCommand,
  configCommand,
  workerCommand,
  devCommand,
  cancelCommand,
  reclaimCommand,
  pruneWorkersCommand,
  logsCommand,
  limitCommand,
  pauseQueueCommand,
  resumeQueueCommand,
  beatCommand,
  scheduleCommand,
  schedulesCommand,
  syncRecurringCommand,
  pgCronCommand,
  initCommand,
  checkCommand,
  doctorCommand,
  allowlistCommand,
  systemdCommand,
  stressTestCommand,
  upgradeCommand,
  statsCommand,
  triageCommand,
  replayCommand,
  runsCommand,
  pruneCommand,
  pruneSuccessfulCommand,
  serveCommand,
  tokenCommand,
];

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

  for (const command of COMMANDS) command.register(program);
  return program;
}
