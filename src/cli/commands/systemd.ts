/**
 * `reproq systemd`: writes unit files for a worker and a scheduler into a directory, with this
 * node and this package's CLI as absolute paths, so the units run the exact installed version.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../../errors.js";
import { renderUnits, writeUnitFiles } from "../../ops/systemd.js";
import { defineCommand } from "../define.js";
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

export const systemdCommand = defineCommand({
  name: "systemd",
  description: "write systemd unit files for a worker and the scheduler",
  options: [
    { flags: "--user <user>", description: "run the services as this user" },
    { flags: "--concurrency <n>", description: "worker --concurrency" },
    { flags: "--env-file <file>", description: "EnvironmentFile= with DATABASE_URL and other settings" },
    {
      flags: "--environment-file <file>",
      description: "same as --env-file (which Node 20 also reads itself; see docs)",
    },
    { flags: "--output-dir <dir>", description: "where to write the files (default: this directory)" },
    {
      flags: "--tasks <globs...>",
      description: "task modules for the worker and scheduler (default: setting tasks)",
    },
    { flags: "--schedule", description: "a timer running `reproq schedule` instead of a beat service" },
    {
      flags: "--schedule-on-calendar <spec>",
      description: `OnCalendar= of the timer (default "${DEFAULT_ON_CALENDAR}")`,
    },
    { flags: "--force", description: "overwrite existing unit files" },
  ],
  help: EXAMPLES,
  parse: (flags: SystemdFlags) => {
    const concurrency =
      flags.concurrency === undefined ? undefined : countFlag(flags.concurrency, "--concurrency");
    const onCalendar = flags.scheduleOnCalendar?.trim();
    if (onCalendar !== undefined && (onCalendar === "" || /[\n\r]/.test(onCalendar))) {
      throw new UsageError('--schedule-on-calendar: give a systemd calendar spec such as "*-*-* *:*:00"');
    }
    if (flags.user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(flags.user)) {
      throw new UsageError(`--user: "${flags.user}" is not a valid user name`);
    }
    return { concurrency, onCalendar };
  },
  // The shutdown timeout sets TimeoutStopSec; reading it also checks the config before anything is written.
  run: (ctx, { concurrency, onCalendar }) => {
    const { flags } = ctx;
    const envFile = environmentFile(flags);
    const units = renderUnits({
      node: process.execPath,
      cli: CLI_MAIN,
      workingDirectory: ctx.cwd,
      globalArgs: [
        ...(flags.config === undefined ? [] : ["--config", path.resolve(flags.config)]),
        ...(flags.schema === undefined ? [] : ["--schema", flags.schema]),
      ],
      user: flags.user,
      environmentFile: envFile === undefined ? undefined : path.resolve(envFile),
      concurrency,
      tasks: flags.tasks,
      shutdownTimeoutMs: ctx.config.values.shutdownTimeout,
      onCalendar:
        flags.schedule || onCalendar !== undefined ? (onCalendar ?? DEFAULT_ON_CALENDAR) : undefined,
    });
    return writeUnitFiles(path.resolve(flags.outputDir ?? "."), units, { force: flags.force });
  },
  text: (r) => {
    const names = r.files.map((f) => path.basename(f));
    const enable = names
      .filter((n) => n !== "reproq-schedule.service")
      .map((n) => n.replace(/\.service$/, ""));
    return [
      ...r.files.map((f) => `Wrote ${f}`),
      "",
      "Next steps:",
      `  sudo cp ${r.files.join(" ")} /etc/systemd/system/`,
      "  sudo systemctl daemon-reload",
      `  sudo systemctl enable --now ${enable.join(" ")}`,
      "  journalctl -u reproq-worker -f",
    ];
  },
  notes: (_report, ctx) => {
    const envFile = environmentFile(ctx.flags);
    return envFile !== undefined && !existsSync(envFile)
      ? [`note: ${envFile} does not exist yet; systemd will not start the units without it`]
      : [];
  },
});

/**
 * Node 20 treats a script's `--env-file F` as its own option (it loads F, or exits 9 when F is
 * missing), so the same setting is also accepted under a name Node leaves alone.
 */
function environmentFile(flags: SystemdFlags): string | undefined {
  return flags.environmentFile ?? flags.envFile;
}
