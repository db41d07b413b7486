/**
 * The beat scheduler: one tick enqueues every due schedule and advances its next_run_at, each
 * schedule in its own transaction. Exactly one scheduler is active per database and schema: the
 * leader holds a session advisory lock, and it runs every tick on that same session, so a leader
 * whose connection died cannot keep enqueueing after another process took over. Inside the
 * transaction the row is locked and re-checked as still due, so a tick is never enqueued twice.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { sha256Hex } from "../codec/canonical.js";
import { advisoryKey } from "../db/names.js";
import { InvalidInputError } from "../errors.js";
import { advisoryUnlock, tryAdvisoryLock } from "../sql/maintenance.js";
import { insertRuns, type NewRun } from "../sql/runs.js";
import {
  advanceSchedule,
  lockDueSchedule,
  type ScheduleRow,
  selectDueNames,
  transactionNow,
} from "../sql/schedules.js";
import { parseCron } from "./cron.js";
import type { ScheduleRunOptions } from "./schedules.js";

/** Catch-up "all" enqueues at most this many missed ticks (the most recent ones). */
export const CATCH_UP_CAP = 100;

export interface ScheduleTick {
  name: string;
  /** Ids of the runs inserted. */
  runIds: string[];
  /** Ticks whose run was an identical run still active (deduplicated, not inserted). */
  deduplicated: number;
  /** Scheduled times of the ticks handled (inserted or deduplicated). */
  scheduledFor: Date[];
  /** True when missed ticks were skipped by the catch-up policy. */
  skippedMissed: boolean;
  nextRunAt: Date | null;
  error?: string;
}

export interface TickResult {
  at: Date;
  schedules: ScheduleTick[];
}

/** Fields recorded in every run's provenance besides `schedule` and `scheduled_for`. */
export type BaseProvenance = Record<string, unknown>;

/** Which due ticks to enqueue under the schedule's catch-up policy. */
export function dueTicks(
  row: Pick<ScheduleRow, "cron_expr" | "timezone" | "catch_up" | "next_run_at">,
  now: Date,
): { ticks: Date[]; skippedMissed: boolean; next: Date | null } {
  const cron = parseCron(row.cron_expr, row.timezone);
  const first = row.next_run_at;
  const next = cron.next(now);
  if (!first || first > now) return { ticks: [], skippedMissed: false, next: first ?? next };
  const following = cron.next(first);
  // Only one tick is due: nothing was missed, every policy runs it.
  if (following === null || following > now) return { ticks: [first], skippedMissed: false, next };
  switch (row.catch_up) {
    case "none":
      return { ticks: [], skippedMissed: true, next };
    case "all": {
      const recent = cron.previous(CATCH_UP_CAP, now).filter((d) => d >= first);
      // `first` may be off the cron grid (run now); it is a tick of its own then.
      if (recent.length < CATCH_UP_CAP && (recent[0] === undefined || recent[0] > first))
        recent.unshift(first);
      return { ticks: recent, skippedMissed: recent[0]! > first, next };
    }
    default: {
      const latest = cron.previous(1, now)[0];
      return { ticks: [latest && latest > first ? latest : first], skippedMissed: true, next };
    }
  }
}

function runFor(
  row: ScheduleRow,
  hash: string,
  tick: Date,
  dedup: boolean,
  provenance: BaseProvenance,
): NewRun {
  const options = row.options_json as Partial<ScheduleRunOptions>;
  const spec = (row.spec_json ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    queueName: row.queue_name,
    priority: row.priority,
    runAt: null,
    delayMs: 0,
    specJson: row.spec_canonical!,
    specHash: hash,
    dedupKey: dedup ? hash : null,
    taskPath: row.task_path,
    maxAttempts: options.max_attempts ?? 3,
    timeoutSeconds: options.timeout_seconds ?? 900,
    lockKey: str(spec.lock_key),
    concurrencyKey: str(spec.concurrency_key),
    concurrencyLimit: typeof spec.concurrency_limit === "number" ? spec.concurrency_limit : 0,
    expiresInMs: options.expires_in_ms ?? null,
    provenanceJson: JSON.stringify({
      ...provenance,
      schedule: row.name,
      scheduled_for: tick.toISOString(),
      producer: "beat",
    }),
    status: "READY",
    parentId: null,
    workflowId: null,
    waitCount: 0,
  };
}

async function tickSchedule(
  client: pg.ClientBase,
  schema: string,
  name: string,
  provenance: BaseProvenance,
): Promise<ScheduleTick | null> {
  await client.query("BEGIN");
  try {
    const row = await lockDueSchedule(client, schema, name);
    if (!row) {
      await client.query("COMMIT");
      return null;
    }
    const now = await transactionNow(client);
    if (row.spec_canonical === null) {
      throw new InvalidInputError(
        `schedule "${name}" has no stored spec; save it with upsertSchedule() or reproq sync-recurring`,
      );
    }
    const hash = sha256Hex(row.spec_canonical);
    if (hash !== row.spec_hash)
      throw new InvalidInputError(`schedule "${name}": stored spec_hash does not match spec_canonical`);
    const { ticks, skippedMissed, next } = dueTicks(row, now);
    const dedup = (row.options_json as Partial<ScheduleRunOptions>).dedup !== false;
    // Several catch-up runs of one spec would collapse into one if deduplicated, so only a lone run is.
    const runs = ticks.map((tick) => runFor(row, hash, tick, dedup && ticks.length === 1, provenance));
    const outcomes = await insertRuns(client, schema, runs);
    await advanceSchedule(client, schema, name, next, ticks.length > 0);
    await client.query("COMMIT");
    const runIds = outcomes.flatMap((o) => (o.row ? [o.row.result_id] : []));
    return {
      name,
      runIds,
      deduplicated: outcomes.length - runIds.length,
      scheduledFor: ticks,
      skippedMissed,
      nextRunAt: next,
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/** One pass over the due schedules, on `client` (which should hold the scheduler lock). */
export async function tick(
  client: pg.ClientBase,
  schema: string,
  provenance: BaseProvenance,
): Promise<TickResult> {
  const { names, now } = await selectDueNames(client, schema);
  const schedules: ScheduleTick[] = [];
  for (const name of names) {
    try {
      const done = await tickSchedule(client, schema, name, provenance);
      if (done) schedules.push(done);
    } catch (error) {
      // One broken schedule must not stop the others; it is reported and retried next tick.
      schedules.push({
        name,
        runIds: [],
        deduplicated: 0,
        scheduledFor: [],
        skippedMissed: false,
        nextRunAt: null,
        error: (error as Error).message,
      });
    }
  }
  return { at: now, schedules };
}

export async function tryLeadership(client: pg.ClientBase, schema: string): Promise<boolean> {
  return tryAdvisoryLock(client, advisoryKey(schema, "scheduler"));
}

async function releaseLeadership(client: pg.ClientBase, schema: string): Promise<void> {
  await advisoryUnlock(client, advisoryKey(schema, "scheduler"));
}

/** One tick if no other scheduler is active (for crontab): `leader` false means another one is. */
export async function runOnce(
  pool: pg.Pool,
  schema: string,
  provenance: BaseProvenance,
): Promise<{ leader: boolean; result: TickResult | null }> {
  const client = await pool.connect();
  const onError = () => {};
  client.on("error", onError);
  let broken = false;
  try {
    if (!(await tryLeadership(client, schema))) return { leader: false, result: null };
    const result = await tick(client, schema, provenance);
    await releaseLeadership(client, schema);
    return { leader: true, result };
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.off("error", onError);
    // Destroying the connection on failure also releases a lock we may still hold.
    client.release(broken);
  }
}

export interface BeatOptions {
  pool: pg.Pool;
  schema: string;
  intervalMs: number;
  provenance: BaseProvenance;
  log: Logger;
}

/** The long-lived scheduler: tries to lead every interval and ticks while it leads. */
export class Beat {
  readonly finished: Promise<void>;
  #options: BeatOptions;
  #client: pg.PoolClient | null = null;
  #onClientError = (error: Error) => this.#options.log.warn({ err: error }, "scheduler connection failed");
  #stopping = false;
  #wake: () => void = () => {};

  private constructor(options: BeatOptions) {
    this.#options = options;
    this.finished = this.#loop();
  }

  static start(options: BeatOptions): Beat {
    return new Beat(options);
  }

  get isLeader(): boolean {
    return this.#client !== null;
  }

  /** Stops after the current tick and gives up leadership. */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    return this.finished;
  }

  async #loop(): Promise<void> {
    const { log, intervalMs } = this.#options;
    while (!this.#stopping) {
      try {
        await this.#step();
      } catch (error) {
        log.error({ err: error }, "scheduler tick failed; giving up leadership until the next interval");
        this.#drop(true);
      }
      if (this.#stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.#client) {
      await releaseLeadership(this.#client, this.#options.schema).catch(() => {});
      this.#drop(false);
      log.info("stopped; scheduler leadership released");
    }
  }

  async #step(): Promise<void> {
    const { pool, schema, provenance, log } = this.#options;
    if (!this.#client) {
      const client = await pool.connect();
      let leader = false;
      try {
        leader = await tryLeadership(client, schema);
      } finally {
        if (!leader) client.release();
      }
      if (!leader) {
        log.debug("another scheduler is active; standing by");
        return;
      }
      client.on("error", this.#onClientError);
      this.#client = client;
      log.info({ schema }, "became the active scheduler");
    }
    const result = await tick(this.#client, schema, provenance);
    for (const s of result.schedules) {
      if (s.error) log.error({ schedule: s.name }, s.error);
      else
        log.info(
          { schedule: s.name, runs: s.runIds, deduplicated: s.deduplicated, nextRunAt: s.nextRunAt },
          `schedule ${s.name}: ${s.runIds.length} run(s) enqueued`,
        );
    }
  }

  #drop(destroy: boolean): void {
    const client = this.#client;
    this.#client = null;
    client?.off("error", this.#onClientError);
    client?.release(destroy);
  }
}
