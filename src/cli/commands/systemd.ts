/**
 * `reproq systemd`: writes unit files for a worker and a scheduler into a directory, with this
 * node and this package's CLI as absolute paths, so the units run the exact installed version.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { ReproqError, UsageError } from "../../errors.js";
import { renderUnits } from "../../ops/systemd.js";
import { type GlobalOptions, output, resolveCliConfig } from "../context.js";
import { countFlag } from "../flags.js";

interface SystemdFlags {
  user?: string;
  concurrency?: string;
  envFile?: string;
  environmentFile?: string;
  outputDir?: string;
  tasks?: string[];
  schedule?: boolean;
  scheduleOnCalendar?: string;
  force?: boolean;
}

interface SystemdReport {
  directory: string;
  files: string[];
}

const DEFAULT_ON_CALENDAR = "*-*-* *:*:00";

const EXAMPLES = `
Examples:
  $ reproq systemd --user app --env-file /etc/reproq.env --tasks "dist/tasks/**/*.js"
  $ reproq systemd --output-dir deploy/systemd --concurrency 50
  $ reproq systemd --schedule                         a timer running reproq schedule every minute
  $ reproq systemd --schedule --schedule-on-calendar "*-*-* *:0/5:00"

Writes reproq-worker.service and reproq-beat.service (or, with --schedule, reproq-schedule.service
and reproq-schedule.timer). Put DATABASE_URL in the --env-file, never in the unit.
`;

/** dist/cli/main.js, next to this file's directory. */
const CLI_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

export function registerSystemdCommand(program: Command): void {
  program
    .command("systemd")
    .description("write systemd unit files for a worker and the scheduler")
    .option("--user <user>", "run the services as this user")
    .option("--concurrency <n>", "worker --concurrency")
    .option("--env-file <file>", "EnvironmentFile= with DATABASE_URL and other settings")
    .option("--environment-file <file>", "same as --env-file (which Node 20 also reads itself; see docs)")
    .option("--output-dir <dir>", "where to write the files (default: this directory)")
    .option("--tasks <globs...>", "task modules for the worker and scheduler (default: setting tasks)")
    .option("--schedule", "a timer running `reproq schedule` instead of a beat service")
    .option("--schedule-on-calendar <spec>", `OnCalendar= of the timer (default "${DEFAULT_ON_CALENDAR}")`)
    .option("--force", "overwrite existing unit files")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: SystemdFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & SystemdFlags>();
      await writeUnits(opts);
    });
}

async function writeUnits(opts: GlobalOptions & SystemdFlags): Promise<void> {
  const concurrency =
    opts.concurrency === undefined ? undefined : countFlag(opts.concurrency, "--concurrency");
  const onCalendar = opts.scheduleOnCalendar?.trim();
  if (onCalendar !== undefined && (onCalendar === "" || /[\n\r]/.test(onCalendar))) {
    throw new UsageError('--schedule-on-calendar: give a systemd calendar spec such as "*-*-* *:*:00"');
  }
  if (opts.user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(opts.user)) {
    throw new UsageError(`--user: "${opts.user}" is not a valid user name`);
  }
  // The shutdown timeout sets TimeoutStopSec; reading it also checks the config before anything is written.
  const config = await resolveCliConfig(opts);
  // Node 20 treats a script's `--env-file F` as its own option (it loads F, or exits 9 when F is
  // missing), so the same setting is also accepted under a name Node leaves alone.
  const envFile = opts.environmentFile ?? opts.envFile;
  const directory = path.resolve(opts.outputDir ?? ".");
  const units = renderUnits({
    node: process.execPath,
    cli: CLI_MAIN,
    workingDirectory: process.cwd(),
    globalArgs: [
      ...(opts.config === undefined ? [] : ["--config", path.resolve(opts.config)]),
      ...(opts.schema === undefined ? [] : ["--schema", opts.schema]),
    ],
    user: opts.user,
    environmentFile: envFile === undefined ? undefined : path.resolve(envFile),
    concurrency,
    tasks: opts.tasks,
    shutdownTimeoutMs: config.values.shutdownTimeout,
    onCalendar: opts.schedule || onCalendar !== undefined ? (onCalendar ?? DEFAULT_ON_CALENDAR) : undefined,
  });

  const existing = units.filter((u) => existsSync(path.join(directory, u.name))).map((u) => u.name);
  if (existing.length > 0 && !opts.force) {
    throw new ReproqError(
      "CONFLICT",
      `${existing.join(", ")} already exist(s) in ${directory}; pass --force to overwrite`,
    );
  }
  await mkdir(directory, { recursive: true });
  for (const unit of units) await writeFile(path.join(directory, unit.name), unit.text);
  if (envFile !== undefined && !existsSync(envFile)) {
    process.stderr.write(
      `note: ${envFile} does not exist yet; systemd will not start the units without it\n`,
    );
  }

  const report: SystemdReport = { directory, files: units.map((u) => path.join(directory, u.name)) };
  const names = units.map((u) => u.name);
  const enable = names.filter((n) => n !== "reproq-schedule.service").map((n) => n.replace(/\.service$/, ""));
  output(opts, report, (r) => [
    ...r.files.map((f) => `Wrote ${f}`),
    "",
    "Next steps:",
    `  sudo cp ${r.files.join(" ")} /etc/systemd/system/`,
    "  sudo systemctl daemon-reload",
    `  sudo systemctl enable --now ${enable.join(" ")}`,
    "  journalctl -u reproq-worker -f",
  ]);
}
