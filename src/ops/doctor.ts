/**
 * Health checks for `reproq check` and `reproq doctor`. Each check yields findings
 * (ok / warn / fail with a hint) instead of throwing, so one broken piece never hides the
 * state of the others. The essential checks (database, schema, task modules, allow-list)
 * decide whether a deployment can work; the advisory ones (workers, queues, scheduler,
 * pg_cron) describe what is running right now.
 */
import { isBuiltinTask } from "../builtins.js";
import type { ReproqConfig } from "../config/schema.js";
import { advisoryKey } from "../db/names.js";
import { mapDatabaseError, type Queryable } from "../db/pool.js";
import { registeredTasks } from "../registry.js";
import { DEFAULT_JOB_PREFIX } from "../scheduler/pg-cron.js";
import {
  advisoryLockHeld,
  countEnabledSchedules,
  selectReadyQueues,
  selectServerVersion,
} from "../sql/doctor.js";
import { migrationStatus } from "../sql/migrate.js";
import { pgCronVersion, selectCronJobs } from "../sql/schedules.js";
import { importTaskModules, makeAllowList, servesQueue } from "../worker/discovery.js";
import { listWorkers, type WorkerInfo } from "./workers.js";

export type FindingStatus = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  status: FindingStatus;
  message: string;
  hint?: string;
}

export interface DoctorOptions {
  config: ReproqConfig;
  /** Undefined when no database is configured (reported as a failure). */
  db: Queryable | undefined;
  /** Directory task globs are relative to. */
  cwd: string;
  /** Also run the advisory checks (workers, queues, scheduler, pg_cron). */
  advisory: boolean;
}

/** Runs every check in order and returns the findings; never throws for a failed check. */
export async function runDoctor(options: DoctorOptions): Promise<Finding[]> {
  const { config, db } = options;
  const findings: Finding[] = [];
  const schema = config.schema;

  const reachable = db ? await checkDatabase(db, schema) : noDatabase();
  findings.push(reachable);
  const schemaFinding = db && reachable.status === "ok" ? await checkSchema(db, schema) : undefined;
  if (schemaFinding) findings.push(schemaFinding);

  const tasks = await checkTasks(config, options.cwd);
  findings.push(tasks.finding);
  if (tasks.names) findings.push(...checkAllowList(config.allowedTaskModules, tasks.names));

  // The advisory checks read Reproq's tables, which exist only on a current schema.
  if (!options.advisory || !db || schemaFinding?.status !== "ok") return findings;
  for (const check of [checkWorkersAndQueues, checkScheduler, checkPgCron]) {
    try {
      findings.push(...(await check(db, config)));
    } catch (error) {
      findings.push({ check: check.label, status: "fail", message: errorText(error, schema) });
    }
  }
  return findings;
}

/** Counts per status, for the summary line. */
export function summarize(findings: readonly Finding[]): Record<FindingStatus, number> {
  const counts: Record<FindingStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const finding of findings) counts[finding.status]++;
  return counts;
}

function noDatabase(): Finding {
  return {
    check: "database",
    status: "fail",
    message: "no database configured",
    hint: "pass --dsn, set DATABASE_URL, or set databaseUrl in the config",
  };
}

async function checkDatabase(db: Queryable, schema: string): Promise<Finding> {
  try {
    const version = await selectServerVersion(db);
    return { check: "database", status: "ok", message: `reachable (PostgreSQL ${version})` };
  } catch (error) {
    return {
      check: "database",
      status: "fail",
      message: errorText(error, schema),
      hint: "check the URL, the network and that PostgreSQL is running",
    };
  }
}

async function checkSchema(db: Queryable, schema: string): Promise<Finding> {
  try {
    const status = await migrationStatus(db, schema);
    if (status.newer) {
      return {
        check: "schema",
        status: "fail",
        message: `schema "${schema}" is at version ${status.current}, newer than this package (${status.latest})`,
        hint: "upgrade reproq: npm update reproq",
      };
    }
    if (status.pending.length > 0) {
      return {
        check: "schema",
        status: "fail",
        message: `schema "${schema}" is at version ${status.current}, this package needs ${status.latest} (${status.pending.length} pending)`,
        hint: "run reproq migrate",
      };
    }
    return {
      check: "schema",
      status: "ok",
      message: `schema "${schema}" is current (version ${status.current})`,
    };
  } catch (error) {
    return { check: "schema", status: "fail", message: errorText(error, schema), hint: "run reproq migrate" };
  }
}

/** Imports the configured task modules; `names` are the registered user tasks when that worked. */
async function checkTasks(
  config: ReproqConfig,
  cwd: string,
): Promise<{ finding: Finding; names?: string[] }> {
  const globs = config.tasks;
  if (!globs?.length) {
    return {
      finding: {
        check: "tasks",
        status: "warn",
        message: "no task modules configured, so none were checked",
        hint: "set tasks in the config (REPROQ_TASKS) or pass --tasks",
      },
    };
  }
  try {
    const files = await importTaskModules(globs, cwd);
    const names = userTaskNames();
    if (names.length === 0) {
      return {
        finding: {
          check: "tasks",
          status: "fail",
          message: `${files.length} module(s) imported but no tasks are registered`,
          hint: "define tasks with task() in those modules",
        },
      };
    }
    return {
      finding: {
        check: "tasks",
        status: "ok",
        message: `${files.length} module(s) imported, ${names.length} task(s) registered`,
      },
      names,
    };
  } catch (error) {
    return {
      finding: {
        check: "tasks",
        status: "fail",
        message: errorText(error),
        hint: "fix the tasks globs or the module",
      },
    };
  }
}

/** Registered task names without the built-in ones, sorted. */
export function userTaskNames(): string[] {
  return registeredTasks()
    .map((t) => t.name)
    .filter((name) => !isBuiltinTask(name))
    .sort();
}

function checkAllowList(entries: readonly string[] | undefined, names: readonly string[]): Finding[] {
  if (!entries?.length) {
    return [
      {
        check: "allow-list",
        status: "ok",
        message: "allowedTaskModules unset: every registered task may run",
      },
    ];
  }
  const findings: Finding[] = [];
  const unused = entries.filter((entry) => !names.some(makeAllowList([entry])));
  if (unused.length > 0) {
    findings.push({
      check: "allow-list",
      status: "warn",
      message: `entries matching no registered task: ${unused.join(", ")}`,
      hint: "reproq allowlist prints a list computed from your tasks",
    });
  }
  const allowed = makeAllowList(entries);
  const refused = names.filter((name) => !allowed(name));
  if (refused.length > 0) {
    findings.push({
      check: "allow-list",
      status: "warn",
      message: `registered tasks the allow-list refuses: ${refused.join(", ")}`,
      hint: "workers will not run them; reproq allowlist --write --config FILE updates the list",
    });
  }
  if (findings.length === 0) {
    findings.push({
      check: "allow-list",
      status: "ok",
      message: `${entries.length} entr${entries.length === 1 ? "y" : "ies"}, consistent with the registered tasks`,
    });
  }
  return findings;
}

type AdvisoryCheck = ((db: Queryable, config: ReproqConfig) => Promise<Finding[]>) & { label: string };

function advisory(
  label: string,
  fn: (db: Queryable, config: ReproqConfig) => Promise<Finding[]>,
): AdvisoryCheck {
  return Object.assign(fn, { label });
}

/** A worker whose row is older than its lease could be is gone (it would have heartbeaten). */
function staleAfterMs(config: ReproqConfig): number {
  return Math.max(config.leaseDuration, 3 * config.heartbeatInterval);
}

const checkWorkersAndQueues = advisory("workers", async (db, config) => {
  const workers = await listWorkers(db, config.schema);
  const limit = staleAfterMs(config);
  const live = workers.filter((w) => w.idleMs <= limit);
  const stale = workers.filter((w) => w.idleMs > limit);
  const findings: Finding[] = [];
  if (live.length > 0) {
    findings.push({
      check: "workers",
      status: "ok",
      message: `${live.length} live worker(s): ${describeWorkers(live)}`,
    });
  } else {
    findings.push({
      check: "workers",
      status: "warn",
      message: "no live workers",
      hint: "start one: reproq worker --tasks GLOBS",
    });
  }
  if (stale.length > 0) {
    findings.push({
      check: "workers",
      status: "warn",
      message: `${stale.length} stale worker row(s) not seen for over ${Math.round(limit / 1000)}s: ${stale.map((w) => w.workerId).join(", ")}`,
      hint: "reproq prune-workers --older-than 10m",
    });
  }

  const ready = await selectReadyQueues(db, config.schema);
  const unserved = ready.filter((row) => !live.some((w) => servesQueue(w.queues, row.queue_name)));
  if (unserved.length > 0) {
    findings.push({
      check: "queues",
      status: "warn",
      message: `READY runs in queues no live worker serves: ${unserved.map((r) => `${r.queue_name} (${r.ready})`).join(", ")}`,
      hint: "start a worker with --queues naming them",
    });
  } else {
    const total = ready.reduce((sum, row) => sum + row.ready, 0);
    findings.push({
      check: "queues",
      status: "ok",
      message: total === 0 ? "no READY runs waiting" : `${total} READY run(s), every queue has a live worker`,
    });
  }
  return findings;
});

function describeWorkers(workers: readonly WorkerInfo[]): string {
  const shown = workers.slice(0, 5).map((w) => `${w.workerId} [${w.queues.join(",")}]`);
  return workers.length > 5 ? `${shown.join(", ")}, …` : shown.join(", ");
}

const checkScheduler = advisory("scheduler", async (db, config) => {
  const mode = config.schedulerMode ?? "beat";
  const schedules = await countEnabledSchedules(db, config.schema);
  const beatActive = await advisoryLockHeld(db, advisoryKey(config.schema, "scheduler"));
  const base = `mode ${mode}, ${schedules} enabled schedule(s)`;
  if (mode === "beat") {
    if (beatActive) return [{ check: "scheduler", status: "ok", message: `${base}, reproq beat is active` }];
    if (schedules === 0) return [{ check: "scheduler", status: "ok", message: `${base}, no beat running` }];
    return [
      {
        check: "scheduler",
        status: "warn",
        message: `${base} but no active reproq beat`,
        hint: "run reproq beat (or schedulerMode cron with reproq schedule in crontab)",
      },
    ];
  }
  if (mode === "pg_cron" && beatActive) {
    return [
      {
        check: "scheduler",
        status: "warn",
        message: `${base} but a scheduler holds the beat lock`,
        hint: "stop reproq beat; pg_cron enqueues the schedules",
      },
    ];
  }
  // In cron mode `reproq schedule` holds the lock only for a moment, so a missing lock says nothing.
  return [
    { check: "scheduler", status: "ok", message: beatActive ? `${base}, a scheduler is active` : base },
  ];
});

const checkPgCron = advisory("pg_cron", async (db, config) => {
  const mode = config.schedulerMode ?? "beat";
  const version = await pgCronVersion(db);
  if (version === null) {
    if (mode === "pg_cron") {
      return [
        {
          check: "pg_cron",
          status: "fail",
          message: "schedulerMode is pg_cron but the pg_cron extension is not installed",
          hint: "install pg_cron and run CREATE EXTENSION pg_cron, or change schedulerMode",
        },
      ];
    }
    return [{ check: "pg_cron", status: "ok", message: `not installed (not needed in mode ${mode})` }];
  }
  const jobs = await selectCronJobs(db, DEFAULT_JOB_PREFIX);
  const message = `pg_cron ${version} installed, ${jobs.length} job(s) named ${DEFAULT_JOB_PREFIX}*`;
  if (mode === "pg_cron") {
    const schedules = await countEnabledSchedules(db, config.schema);
    if (jobs.length !== schedules) {
      return [
        {
          check: "pg_cron",
          status: "warn",
          message: `${message}, but ${schedules} schedule(s) are enabled`,
          hint: "reproq pg-cron --install",
        },
      ];
    }
    return [{ check: "pg_cron", status: "ok", message }];
  }
  if (jobs.length > 0) {
    return [
      {
        check: "pg_cron",
        status: "warn",
        message: `${message} while schedulerMode is ${mode}: schedules may be enqueued twice`,
        hint: "reproq pg-cron --remove, or set schedulerMode pg_cron",
      },
    ];
  }
  return [{ check: "pg_cron", status: "ok", message }];
});

function errorText(error: unknown, schema?: string): string {
  const mapped = mapDatabaseError(error, schema);
  const text = mapped instanceof Error ? mapped.message || mapped.name : String(mapped);
  return text.replace(/\s*\n\s*/g, " ");
}
