/**
 * systemd unit files for a worker and a scheduler (a beat service, or a oneshot `reproq schedule`
 * service fired by a timer): rendering them is pure text generation; writeUnitFiles() puts them
 * in a directory without overwriting by accident.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { ReproqError } from "../errors.js";

export interface UnitOptions {
  /** Absolute path of the node executable. */
  node: string;
  /** Absolute path of reproq's dist/cli/main.js. */
  cli: string;
  workingDirectory: string;
  /** Arguments placed before the command (e.g. --config FILE). */
  globalArgs: readonly string[];
  user?: string;
  environmentFile?: string;
  concurrency?: number;
  tasks?: readonly string[];
  /** The worker's grace period on SIGTERM, in ms; systemd waits longer before SIGKILL. */
  shutdownTimeoutMs: number;
  /** With a value, the scheduler is a timer with this OnCalendar instead of a beat service. */
  onCalendar?: string;
}

export interface UnitFile {
  name: string;
  text: string;
}

/** Margin over the shutdown timeout, for releasing runs and closing connections after it. */
const STOP_MARGIN_S = 15;

export function renderUnits(options: UnitOptions): UnitFile[] {
  const taskArgs = options.tasks?.length ? ["--tasks", ...options.tasks] : [];
  const workerArgs = [
    "worker",
    ...taskArgs,
    ...(options.concurrency === undefined ? [] : ["--concurrency", String(options.concurrency)]),
  ];
  const stopSeconds = Math.ceil(options.shutdownTimeoutMs / 1000) + STOP_MARGIN_S;
  const units: UnitFile[] = [
    {
      name: "reproq-worker.service",
      text: service(options, {
        description: "Reproq worker",
        args: workerArgs,
        extra: [
          "Restart=on-failure",
          "RestartSec=5",
          // SIGTERM to the worker only: it stops its own child processes (process isolation) in order.
          "KillMode=mixed",
          "KillSignal=SIGTERM",
          `TimeoutStopSec=${stopSeconds}`,
        ],
        install: "multi-user.target",
      }),
    },
  ];
  if (options.onCalendar === undefined) {
    units.push({
      name: "reproq-beat.service",
      text: service(options, {
        description: "Reproq scheduler (beat)",
        args: ["beat", ...taskArgs],
        extra: ["Restart=on-failure", "RestartSec=5", "KillSignal=SIGTERM", "TimeoutStopSec=30"],
        install: "multi-user.target",
      }),
    });
  } else {
    units.push(
      {
        name: "reproq-schedule.service",
        text: service(options, {
          description: "Reproq scheduler tick (reproq schedule)",
          args: ["schedule", ...taskArgs],
          extra: ["Type=oneshot"],
        }),
      },
      {
        name: "reproq-schedule.timer",
        text: [
          "[Unit]",
          "Description=Run reproq schedule periodically",
          "",
          "[Timer]",
          `OnCalendar=${options.onCalendar}`,
          // The default accuracy is a minute; schedules due at :00 should be enqueued at :00.
          "AccuracySec=1s",
          "Unit=reproq-schedule.service",
          "",
          "[Install]",
          "WantedBy=timers.target",
          "",
        ].join("\n"),
      },
    );
  }
  return units;
}

function service(
  options: UnitOptions,
  unit: { description: string; args: readonly string[]; extra: readonly string[]; install?: string },
): string {
  const exec = [options.node, options.cli, ...options.globalArgs, ...unit.args].map(quoteArg).join(" ");
  return [
    "[Unit]",
    `Description=${unit.description}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    ...(unit.extra.includes("Type=oneshot") ? [] : ["Type=simple"]),
    ...(options.user ? [`User=${options.user}`] : []),
    `WorkingDirectory=${escapeSpecifiers(options.workingDirectory)}`,
    ...(options.environmentFile ? [`EnvironmentFile=${escapeSpecifiers(options.environmentFile)}`] : []),
    `ExecStart=${exec}`,
    ...unit.extra,
    ...(unit.install ? ["", "[Install]", `WantedBy=${unit.install}`] : []),
    "",
  ].join("\n");
}

/**
 * One ExecStart argument: `%` and `$` are escaped (systemd expands specifiers and variables);
 * arguments with spaces, quotes or backslashes are double-quoted.
 */
export function quoteArg(arg: string): string {
  const escaped = arg.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (!/[\s"'\\]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** For path settings, which take the rest of the line as is but still expand %-specifiers. */
function escapeSpecifiers(value: string): string {
  return value.replaceAll("%", "%%");
}

export interface WrittenUnits {
  directory: string;
  /** Absolute paths of the files written, in unit order. */
  files: string[];
}

/** Writes the units into `directory` (created if needed); a CONFLICT error names existing files unless `force`. */
export async function writeUnitFiles(
  directory: string,
  units: readonly UnitFile[],
  options: { force?: boolean } = {},
): Promise<WrittenUnits> {
  const existing = units.filter((u) => existsSync(path.join(directory, u.name))).map((u) => u.name);
  if (existing.length > 0 && !options.force) {
    throw new ReproqError(
      "CONFLICT",
      `${existing.join(", ")} already exist(s) in ${directory}; pass --force to overwrite`,
    );
  }
  await mkdir(directory, { recursive: true });
  for (const unit of units) await writeFile(path.join(directory, unit.name), unit.text);
  return { directory, files: units.map((u) => path.join(directory, u.name)) };
}
