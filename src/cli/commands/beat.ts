/**
 * `reproq beat`: the long-lived scheduler (leader-elected, one active per database and schema),
 * and `--once` for one tick from crontab (also `reproq schedule`). Each due schedule is enqueued
 * and advanced in its own transaction; exit 0 on a clean stop.
 */
import type { Command } from "commander";
import pino from "pino";
import type { ResolvedConfig } from "../../config/load.js";
import type { ConfigKey } from "../../config/schema.js";
import { connect, withConnection } from "../../db/connect.js";
import { ConfigError } from "../../errors.js";
import { resolveProvenance } from "../../provenance.js";
import { Beat, runOnce, type TickResult } from "../../scheduler/beat.js";
import { importTaskModules } from "../../worker/discovery.js";
import {
  cliConnectOptions,
  type GlobalOptions,
  output,
  requireDatabaseUrl,
  resolveCliConfig,
} from "../context.js";
import { durationFlag } from "../flags.js";

export interface BeatFlags {
  tasks?: string[];
  interval?: string;
  once?: boolean;
}

const EXAMPLES = `
Examples:
  $ reproq beat --tasks "dist/tasks/**/*.js"          run the scheduler (one is active per database)
  $ reproq beat --interval 10s
  $ reproq beat --once                                one tick, for crontab (same as reproq schedule)
  * * * * * reproq schedule --dsn postgres://app@db/app   (a crontab line)

Several beats may run: one leads, the others stand by and take over if it stops.
A one-shot that finds another scheduler active exits 0 and says so.
`;

/** Configuration with --tasks applied, task modules imported, and the scheduler mode checked. */
export async function schedulerConfig(opts: GlobalOptions & BeatFlags): Promise<ResolvedConfig> {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  const names: Partial<Record<ConfigKey, string>> = {};
  if (opts.tasks) {
    flags.tasks = opts.tasks.join(",");
    names.tasks = "--tasks";
  }
  const resolved = await resolveCliConfig(opts, flags, names);
  requireDatabaseUrl(resolved);
  if (resolved.values.schedulerMode === "pg_cron") {
    throw new ConfigError(
      'schedulerMode is "pg_cron": pg_cron enqueues the schedules, and a beat would enqueue the same ticks again; unset REPROQ_SCHEDULER_MODE or use reproq pg-cron',
    );
  }
  // Task modules are imported like the worker does, so recurring() definitions and codecs are loaded.
  if (resolved.values.tasks?.length) await importTaskModules(resolved.values.tasks, process.cwd());
  return resolved;
}

function provenanceOf(resolved: ResolvedConfig): Record<string, unknown> {
  return {
    ...resolveProvenance({
      codeRef: resolved.values.codeRef,
      lockfileHash: resolved.values.lockfileHash,
      cwd: process.cwd(),
    }),
  };
}

/** The scheduler holds one connection for its leader lock and uses one more per tick. */
function beatConnection(resolved: ResolvedConfig) {
  return cliConnectOptions(resolved, { max: 2, role: "beat" });
}

function describeTick(result: TickResult): string[] {
  const lines = result.schedules.map((s) => {
    if (s.error) return `schedule ${s.name}: failed: ${s.error}`;
    const parts = [`${s.runIds.length} run(s) enqueued${s.runIds.length ? ` (${s.runIds.join(", ")})` : ""}`];
    if (s.deduplicated) parts.push(`${s.deduplicated} already active`);
    if (s.skippedMissed) parts.push("missed ticks skipped");
    parts.push(`next run ${s.nextRunAt ? s.nextRunAt.toISOString() : "never"}`);
    return `schedule ${s.name}: ${parts.join(", ")}`;
  });
  const runs = result.schedules.reduce((n, s) => n + s.runIds.length, 0);
  lines.push(
    result.schedules.length === 0
      ? "No schedule is due"
      : `Enqueued ${runs} run(s) for ${result.schedules.length} due schedule(s)`,
  );
  return lines;
}

/** One tick unless another scheduler is active; a schedule that failed makes the exit status 1. */
export async function oneShot(opts: GlobalOptions & BeatFlags): Promise<void> {
  const resolved = await schedulerConfig(opts);
  const schema = resolved.values.schema;
  await withConnection(beatConnection(resolved), async ({ pool }) => {
    const { leader, result } = await runOnce(pool, schema, provenanceOf(resolved));
    if (!leader || !result) {
      output(opts, { schema, leader: false, schedules: [] }, () => [
        `Another scheduler is active on schema "${schema}"; it enqueues the due schedules, so this run did nothing`,
      ]);
      return;
    }
    output(opts, { schema, leader: true, at: result.at, schedules: result.schedules }, () =>
      describeTick(result),
    );
    const failed = result.schedules.filter((s) => s.error).map((s) => s.name);
    if (failed.length > 0) throw new Error(`${failed.length} schedule(s) failed: ${failed.join(", ")}`);
  });
}

async function longLived(opts: GlobalOptions & BeatFlags): Promise<void> {
  const intervalMs = opts.interval === undefined ? 30_000 : durationFlag(opts.interval, "--interval");
  const resolved = await schedulerConfig(opts);
  const connection = connect(beatConnection(resolved));
  const pool = connection.pool;
  const log = pino({ base: { role: "beat" } }, pino.destination(2));
  const beat = Beat.start({
    pool,
    schema: resolved.values.schema,
    intervalMs,
    provenance: provenanceOf(resolved),
    log,
  });
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, "stopping");
    void beat.stop();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  try {
    await beat.finished;
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
    await connection.close();
  }
}

export function registerBeatCommand(program: Command): void {
  program
    .command("beat")
    .description("run the scheduler: enqueue due periodic tasks (one active scheduler per database)")
    .option("--tasks <globs...>", "task modules to import (globs; default: setting tasks)")
    .option("--interval <duration>", "how often to look for due schedules (default 30s)")
    .option("--once", "one tick, then exit (for crontab); same as `reproq schedule`")
    .addHelpText("after", EXAMPLES)
    .action(async (_flags: BeatFlags, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & BeatFlags>();
      await (opts.once ? oneShot(opts) : longLived(opts));
    });
}
