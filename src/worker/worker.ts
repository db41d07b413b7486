/**
 * The worker: claims READY runs in batches (claim-loop.ts), runs them on an executor
 * (attempt.ts), settles outcomes in batches (settler.ts), keeps leases alive (heartbeat.ts),
 * reacts to cancel notifications, runs the periodic maintenance pass, and shuts down gracefully.
 * Its state is public through status() and its events (events.ts, status.ts). One worker per
 * process is the usual deployment; several can share a process (each registers its own id).
 */
import { hostname } from "node:os";
import type pg from "pg";
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import type { TaskContext } from "../context.js";
import type { Connection } from "../db/connect.js";
import { mapDatabaseError } from "../db/pool.js";
import { RunFeed } from "../db/run-feed.js";
import { parseDuration } from "../duration.js";
import { runMaintenanceIfFree } from "../maintenance/passes.js";
import { getTask } from "../registry.js";
import { type ClaimedRunRow, registerWorker, touchWorker, unregisterWorker } from "../sql/worker.js";
import { PACKAGE_VERSION } from "../version.js";
import {
  type AttemptEnd,
  AttemptRequest,
  endAttempt,
  failureEnd,
  type InFlight,
  prepareAttempt,
  settleRef,
  taskContextOf,
} from "./attempt.js";
import type { BackoffPolicy } from "./backoff.js";
import { setUpWorker, type WorkerOptions, type WorkerSetup } from "./bootstrap.js";
import { ClaimLoop } from "./claim-loop.js";
import { RunAborted } from "./control.js";
import { Deadlines } from "./deadlines.js";
import { makeAllowList, queueFilter, servesQueue } from "./discovery.js";
import type { WorkerEvents, WorkerState } from "./events.js";
import type { ExecutionResult, Executor } from "./executor.js";
import { heartbeat } from "./heartbeat.js";
import { type Classified, classifyFailure } from "./outcome.js";
import { Reporter } from "./reporter.js";
import { RunAbort } from "./run-abort.js";
import { RunLogs } from "./run-logs.js";
import { RunningSet } from "./running.js";
import { Settler } from "./settler.js";
import { shutDown } from "./shutdown.js";
import { onParentExit, onStopSignals } from "./signals.js";
import { STALL_REPORT_MS, StallWatch } from "./stall-watch.js";
import { type WorkerStatus, workerStatus } from "./status.js";
import type { AttachedSurface } from "./surface.js";

export type { WorkerOptions } from "./bootstrap.js";
export type { ErrorRecord, MaintainedRun, RunEvent, WorkerEvents, WorkerState } from "./events.js";
export type { InFlightRun, RunCounts, WorkerStatus } from "./status.js";
export type { AttachedSurface, SurfaceContext, WorkerSurface, WorkerView } from "./surface.js";

export class Worker {
  readonly id: string;
  /** The run feed on this worker's LISTEN connection (enqueued, cancel-requested, finished). */
  readonly feed: RunFeed;
  #config: ReproqConfig;
  #schema: string;
  #connection: Connection;
  #pool: pg.Pool;
  #executor: Executor;
  #log: Logger;
  #settler: Settler;
  #claims: ClaimLoop;
  #allow: (name: string) => boolean;
  #backoff: BackoffPolicy;
  #report: Reporter;
  #inflight = new RunningSet();
  /** Run timeouts (timeout_seconds from the start of each attempt). */
  #deadlines = new Deadlines<InFlight>(({ row, abort }) =>
    abort.abort(new RunAborted("timeout", `timed out after ${row.timeout_seconds} s`)),
  );
  /** Makes (once) a run's TaskContext; shared by every AttemptRequest. */
  #contextOf = (inflight: InFlight): TaskContext =>
    taskContextOf(inflight, { pool: this.#pool, schema: this.#schema, log: this.#log });
  #classify = (row: ClaimedRunRow, error: unknown): Classified =>
    classifyFailure(row, error, {
      workerId: this.id,
      backoff: this.#backoff,
      definition: getTask(row.task_path),
      now: new Date(),
    });
  #state: WorkerState = "running";
  #startedAt = Date.now();
  #lastHeartbeatAt: number | null = null;
  #lastMaintenanceAt: number | null = null;
  #lastError: string | null = null;
  #stopped: Promise<void> | null = null;
  #loopDone: Promise<void> | null = null;
  #timers: NodeJS.Timeout[] = [];
  #cleanups: Array<() => void> = [];
  #handleSignals: boolean;
  #stalls: StallWatch | null = null;
  /** Recently finished runs that took at least STALL_REPORT_MS: the suspects of a stall. */
  #longRuns: Array<{ row: ClaimedRunRow; finishedAt: number }> = [];
  #finished = deferred();
  /** Surfaces started with the worker (its HTTP endpoints), closed once it stopped. */
  #surfaces: AttachedSurface[] = [];

  private constructor(setup: WorkerSetup) {
    const { config, connection, log } = setup;
    this.id = setup.id;
    this.#config = config;
    this.#schema = config.schema;
    this.#connection = connection;
    this.#pool = connection.pool;
    this.feed = new RunFeed(connection.listener, config.schema);
    this.#executor = setup.executor;
    this.#log = log;
    this.#handleSignals = setup.handleSignals;
    this.#report = new Reporter(setup.id, log);
    this.#allow = makeAllowList(config.allowedTaskModules);
    this.#backoff = { baseMs: config.retryBase, capMs: config.retryCap, jitter: config.retryJitter };
    this.#claims = new ClaimLoop({
      pool: this.#pool,
      schema: this.#schema,
      workerId: this.id,
      queues: queueFilter(config.queues),
      concurrency: config.concurrency,
      prefetch: config.prefetch,
      leaseMs: config.leaseDuration,
      log,
      running: () => this.#inflight.size,
      start: (row) => this.#start(row),
      release: (row) => this.#release(row),
      onClaimed: (rows) => this.#report.claimed(rows),
      onRateLimited: (retryAfterMs) => this.#report.rateLimited(retryAfterMs),
      onClaimError: (message) => {
        this.#lastError = message;
      },
      onExpired: (rows) => {
        for (const run of rows) this.#report.maintained("expired", run, "EXPIRED");
      },
    });
    this.#settler = new Settler(this.#pool, this.#schema, log, (record, held) => {
      if (!held) {
        this.#log.warn(
          { resultId: record.resultId },
          "lease was lost before the outcome was written; the outcome is discarded",
        );
        return;
      }
      // A retry or snooze due before the next poll: claim again when it is due, not at the poll.
      const { outcome } = record;
      if ((outcome.kind === "retry" || outcome.kind === "snooze") && outcome.delayMs < config.pollInterval)
        this.#claims.nudgeAfter(Math.max(1, outcome.delayMs));
    });
  }

  /** Resolves configuration, checks the schema, imports task modules and starts working. */
  static async start(options: WorkerOptions = {}): Promise<Worker> {
    const setup = await setUpWorker(options);
    const worker = new Worker(setup);
    try {
      // Surfaces first, so that they see the first claim and a bad setting stops the start.
      for (const surface of setup.surfaces) {
        const attached = await surface({
          worker,
          config: setup.config,
          log: setup.log,
          pool: setup.connection.pool,
        });
        if (attached) worker.#surfaces.push(attached);
      }
      await worker.#begin();
    } catch (error) {
      for (const surface of worker.#surfaces.splice(0).reverse()) await surface.close().catch(() => {});
      await setup.executor.close().catch(() => {});
      await setup.connection.close();
      throw error;
    }
    if (setup.onlyBuiltins) {
      worker.#log.warn(
        "only built-in tasks (reproq.noop) are registered: pass --tasks (or set tasks) to run your own tasks",
      );
    }
    return worker;
  }

  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.#report.on(event, listener);
    return this;
  }

  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.#report.off(event, listener);
    return this;
  }

  /** Runs currently executing in this worker. */
  get running(): number {
    return this.#inflight.size;
  }

  /** Resolves when the worker has stopped (after stop() or a signal). */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** A snapshot of what this worker does now and has done since it started (plain data). */
  status(): WorkerStatus {
    return workerStatus({
      workerId: this.id,
      state: this.#state,
      startedAt: this.#startedAt,
      queues: this.#config.queues,
      concurrency: this.#config.concurrency,
      isolation: this.#executor.kind,
      running: this.#inflight.values(),
      buffered: this.#claims.buffered,
      prefetchTarget: this.#claims.target,
      pendingSettles: this.#settler.size,
      counters: this.#report.counters,
      rateLimitWaits: this.#report.rateLimitWaits,
      lastClaimAt: this.#claims.lastClaimAt,
      lastHeartbeatAt: this.#lastHeartbeatAt,
      lastMaintenanceAt: this.#lastMaintenanceAt,
      lastError: this.#lastError,
      stalls: this.#stalls,
      pool: this.#pool,
      poolMax: this.#config.poolSize,
    });
  }

  async #begin(): Promise<void> {
    const config = this.#config;
    await registerWorker(this.#pool, this.#schema, {
      workerId: this.id,
      hostname: hostname(),
      pid: process.pid,
      version: PACKAGE_VERSION,
      queues: config.queues,
      concurrency: config.concurrency,
      metadata: { isolation: this.#executor.kind },
    }).catch((error) => {
      throw mapDatabaseError(error, this.#schema);
    });
    this.#cleanups.push(
      await this.feed.subscribe(["enqueued", "cancel-requested", "reconnected"], (event) => {
        if (event.type === "cancel-requested") this.#onCancel(event.id);
        else if (event.type === "reconnected" || this.#servesAny(event.queues)) this.#claims.nudge();
      }),
    );
    const every = (ms: number, fn: () => Promise<void> | void) => {
      this.#timers.push(setInterval(() => void fn(), ms));
    };
    every(config.heartbeatInterval, () => this.#heartbeat());
    every(config.pollInterval, () => {
      this.#claims.releaseStale();
      this.#claims.nudge();
    });
    every(config.maintenanceInterval, () => this.#maintenance());
    void this.#maintenance();
    if (this.#handleSignals) {
      this.#cleanups.push(
        onStopSignals((signal) => {
          if (this.#state !== "running") {
            this.#log.warn("second signal: aborting running tasks now");
            this.#inflight.abortAll("worker stopped by a second signal");
            return;
          }
          this.#log.info({ signal }, "stopping: no new claims, waiting for running tasks");
          void this.stop();
        }),
      );
      this.#cleanups.push(
        onParentExit((formerParent) => {
          if (this.#state !== "running") return;
          this.#log.warn(
            { formerParent },
            "the parent process is gone (a wrapper such as npx exited without passing on its signal): stopping",
          );
          void this.stop();
        }),
      );
    }
    this.#log.info(
      { queues: config.queues, concurrency: config.concurrency, isolation: this.#executor.kind },
      "worker started",
    );
    this.#stalls = new StallWatch(({ blockedMs }) => this.#onStall(blockedMs));
    this.#cleanups.push(() => this.#stalls?.stop());
    this.#loopDone = this.#claims.run();
  }

  #onStall(blockedMs: number): void {
    // The runs executing while the loop was blocked: those still running, and long ones that
    // finished since (a synchronous handler finishes before the watch's timer can fire).
    const since = Date.now() - blockedMs - 200;
    const runs = [...this.#inflight.values(), ...this.#longRuns.filter((run) => run.finishedAt >= since)].map(
      ({ row }) => ({ id: row.result_id, task: row.task_path }),
    );
    this.#longRuns = [];
    const hint =
      this.#executor.kind === "in-process" && runs.length > 0
        ? '; a run computing synchronously in-process blocks heartbeats and timeouts: isolation "thread" or "process" runs it apart'
        : "";
    this.#log.warn({ blockedMs, runs }, `the event loop was blocked for ${blockedMs} ms${hint}`);
  }

  #servesAny(queues: Record<string, number> | null): boolean {
    if (queues === null) return true;
    for (const queue in queues) if (servesQueue(this.#config.queues, queue)) return true;
    return false;
  }

  #onCancel(resultId: string): void {
    const inflight = this.#inflight.get(resultId);
    if (inflight) inflight.abort.abort(new RunAborted("cancelled", "cancelled while running"));
    const buffered = this.#claims.take(resultId);
    // Claimed but not started: it ends CANCELLED without running.
    if (buffered)
      this.#settleEnd(
        buffered.row,
        failureEnd(
          buffered.row,
          new RunAborted("cancelled", "cancelled before the run started"),
          this.#classify,
        ),
        0,
      );
  }

  #release(row: ClaimedRunRow): void {
    this.#settler.settle({
      ...settleRef(row),
      outcome: { kind: "release" },
      errorJson: null,
      lastError: null,
      metadataJson: null,
      logsUri: null,
    });
  }

  #start(row: ClaimedRunRow): void {
    const abort = new RunAbort();
    const inflight: InFlight = {
      row,
      definition: getTask(row.task_path),
      abort,
      context: null,
      metadataBefore: "",
      startedAt: Date.now(),
      deadlineAt: Number.POSITIVE_INFINITY,
      lost: false,
      logs: this.#config.logsDir ? new RunLogs(this.#config.logsDir, row.result_id, row.attempts) : null,
    };
    this.#inflight.add(inflight);
    if (row.cancel_requested)
      abort.abort(new RunAborted("cancelled", "cancel was requested before the run started"));
    void this.#execute(inflight);
  }

  async #execute(inflight: InFlight): Promise<void> {
    const prepared = prepareAttempt(inflight, this.#allow);
    let result: ExecutionResult;
    if ("unrunnable" in prepared) {
      result = { ok: false, error: prepared.unrunnable };
    } else {
      const { row } = inflight;
      inflight.deadlineAt = Date.now() + row.timeout_seconds * 1000;
      this.#deadlines.add(inflight, inflight.deadlineAt);
      this.#report.started(row);
      // prepareAttempt only returns args for a registered task.
      const request = new AttemptRequest(inflight, inflight.definition!, prepared.args, this.#contextOf);
      result = await this.#executor
        .execute(request)
        .catch((error: unknown) => ({ ok: false as const, error }));
    }
    this.#finish(inflight, result);
  }

  #finish(inflight: InFlight, result: ExecutionResult): void {
    const { row } = inflight;
    this.#deadlines.delete(inflight);
    this.#inflight.delete(inflight);
    this.#claims.finished();
    const now = Date.now();
    if (now - inflight.startedAt >= STALL_REPORT_MS) {
      this.#longRuns.push({ row, finishedAt: now });
      if (this.#longRuns.length > 50) this.#longRuns.shift();
    }
    this.#settleEnd(
      row,
      endAttempt(inflight, result, this.#classify, now, this.#config.maxPayloadBytes),
      now - inflight.startedAt,
    );
  }

  /** Queues an attempt's record for the settler, counts it and tells listeners. */
  #settleEnd(row: ClaimedRunRow, end: AttemptEnd, durationMs: number): void {
    if (end.kind === "lost")
      this.#log.warn(
        { resultId: row.result_id },
        "lease lost while running; another worker owns the run now",
      );
    else this.#settler.settle(end.settle);
    this.#report.ended(row, end, durationMs);
  }

  async #heartbeat(): Promise<void> {
    const running = new Map<string, InFlight>();
    for (const inflight of this.#inflight.values())
      if (!inflight.lost) running.set(inflight.row.result_id, inflight);
    try {
      const answer = await heartbeat({
        pool: this.#pool,
        schema: this.#schema,
        leaseMs: this.#config.leaseDuration,
        running,
        buffered: this.#claims.bufferedRuns(),
        pending: this.#settler.pendingFences(),
      });
      for (const inflight of answer.lostRunning) {
        if (this.#inflight.get(inflight.row.result_id) !== inflight) continue;
        inflight.lost = true;
        inflight.abort.abort(
          new RunAborted("lease_lost", "the lease was lost (another worker re-claimed the run)"),
        );
      }
      // Lost while buffered (the reaper or an operator took it back): never start it.
      for (const entry of answer.lostBuffered) {
        if (this.#claims.take(entry.row.result_id, entry)) this.#report.leaseLost(entry.row);
      }
      for (const id of answer.cancelRequested) this.#onCancel(id);
      await touchWorker(this.#pool, this.#schema, this.id);
      this.#lastHeartbeatAt = Date.now();
      this.#lastError = null;
    } catch (error) {
      const message = (mapDatabaseError(error, this.#schema) as Error).message;
      this.#lastError = message;
      this.#log.warn({ err: message }, "heartbeat failed");
    }
  }

  async #maintenance(): Promise<void> {
    if (this.#state !== "running") return;
    try {
      const result = await runMaintenanceIfFree(this.#pool, this.#schema, this.#config, this.#log);
      this.#lastMaintenanceAt = Date.now();
      if (!result) return;
      for (const run of result.reapedRuns) this.#report.maintained("reclaimed", run, run.status);
      for (const run of result.expiredRuns) this.#report.maintained("expired", run, "EXPIRED");
    } catch (error) {
      this.#log.warn({ err: (mapDatabaseError(error, this.#schema) as Error).message }, "maintenance failed");
    }
  }

  #setState(state: WorkerState): void {
    this.#state = state;
    this.#report.state(state);
  }

  /** Stops claiming, lets running tasks finish within shutdownTimeout, then aborts and releases the rest. */
  stop(options: { timeout?: number | string } = {}): Promise<void> {
    this.#stopped ??= this.#shutdown(
      options.timeout === undefined
        ? this.#config.shutdownTimeout
        : parseDuration(options.timeout, { name: "stop timeout" }),
    );
    return this.#stopped;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#setState("stopping");
    await shutDown(
      {
        claims: this.#claims,
        loop: this.#loopDone,
        running: this.#inflight,
        deadlines: this.#deadlines,
        timers: this.#timers,
        settler: this.#settler,
        cleanups: this.#cleanups,
        unregister: () => unregisterWorker(this.#pool, this.#schema, this.id),
        executor: this.#executor,
        connection: this.#connection,
        log: this.#log,
      },
      graceMs,
    );
    this.#setState("stopped");
    for (const surface of this.#surfaces.splice(0).reverse())
      await surface
        .close()
        .catch((error: unknown) => this.#log.warn({ err: error }, "closing a worker surface failed"));
    this.#finished.resolve();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
