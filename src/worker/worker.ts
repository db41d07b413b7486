/**
 * The worker: claims READY runs in batches (FOR UPDATE SKIP LOCKED), runs them on an
 * executor, settles outcomes in batches, keeps leases alive with heartbeats, reacts to
 * cancel notifications, and shuts down gracefully. One worker per process is the usual
 * deployment; several can share a process (each registers its own id).
 */
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import type pg from "pg";
import pino, { type Logger } from "pino";
import { isBuiltinTask } from "../builtins.js";
import { decodeArgs, encodeValue, type JsonValue } from "../codec/tagged.js";
import { loadConfig } from "../config/load.js";
import type { ReproqConfig } from "../config/schema.js";
import type { TaskContext } from "../context.js";
import { Listener } from "../db/listener.js";
import { advisoryKey, assertSchemaName, channelName } from "../db/names.js";
import { createPool, mapDatabaseError } from "../db/pool.js";
import { isTransientConflict } from "../db/transient.js";
import type { TaskDefinition } from "../definition.js";
import { parseDuration } from "../duration.js";
import { ConfigError } from "../errors.js";
import { getTask, registeredTasks } from "../registry.js";
import { currentSettings } from "../runtime.js";
import {
  advisoryUnlock,
  deleteFinishedRuns,
  expireRuns,
  reapExpiredLeases,
  tryAdvisoryLock,
} from "../sql/maintenance.js";
import { assertSchemaCurrent } from "../sql/migrate.js";
import {
  type ClaimedRunRow,
  claimRuns,
  type FailureOutcome,
  type Fence,
  heartbeatRuns,
  registerWorker,
  saveRunMetadata,
  touchWorker,
  unregisterWorker,
} from "../sql/worker.js";
import { PACKAGE_VERSION } from "../version.js";
import { type BackoffPolicy, retryDelayMs } from "./backoff.js";
import { NonRetryableError, RunAborted, SnoozeSignal } from "./control.js";
import { Deadlines } from "./deadlines.js";
import { importTaskModules, makeAllowList, queueFilter, servesQueue } from "./discovery.js";
import {
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  InProcessExecutor,
  type OutputSink,
} from "./executor.js";
import { RunAbort } from "./run-abort.js";
import { RunLogs } from "./run-logs.js";
import { Settler } from "./settler.js";

export interface RunEvent {
  id: string;
  taskName: string;
  queue: string;
  attempt: number;
  maxAttempts: number;
  workerId: string;
}

export type WorkerEvents = {
  started: [run: RunEvent];
  succeeded: [run: RunEvent & { returnValue: unknown; durationMs: number }];
  retrying: [run: RunEvent & { error: ErrorRecord; delayMs: number }];
  failed: [run: RunEvent & { error: ErrorRecord }];
  cancelled: [run: RunEvent];
};

export interface ErrorRecord {
  kind: string;
  class: string | null;
  message: string;
  stack: string | null;
  attempt: number;
  worker: string;
  at: string;
}

export interface WorkerOptions {
  /** Settings that override configure(), config files and the environment for this worker. */
  config?: Partial<Record<keyof ReproqConfig, unknown>>;
  configPath?: string;
  cwd?: string;
  /** Stop gracefully on SIGTERM/SIGINT (a second signal aborts at once). Default false in code, true in the CLI. */
  handleSignals?: boolean;
  /** A pino logger, or false for silence. Default: JSON lines on stderr at level info. */
  logger?: Logger | false;
  /** Use this executor instead of the one `isolation` selects. */
  executor?: Executor;
}

interface InFlight {
  row: ClaimedRunRow;
  definition: TaskDefinition | undefined;
  abort: RunAbort;
  /** Made on first use (see #context). */
  context: TaskContext | null;
  /** The metadata as JSON when the context was made. */
  metadataBefore: string;
  startedAt: number;
  lost: boolean;
  logs: RunLogs | null;
}

/**
 * What the executor gets for one attempt. A class, so starting a run makes one object and no
 * closures; the signal and the context are made only if the executor or the handler asks.
 */
class AttemptRequest implements ExecutionRequest {
  readonly run: ClaimedRunRow;
  readonly definition: TaskDefinition;
  readonly args: unknown[];
  readonly output: OutputSink | undefined;
  #inflight: InFlight;
  #contextOf: (inflight: InFlight) => TaskContext;

  constructor(
    inflight: InFlight,
    definition: TaskDefinition,
    args: unknown[],
    contextOf: (inflight: InFlight) => TaskContext,
  ) {
    this.run = inflight.row;
    this.definition = definition;
    this.args = args;
    this.output = inflight.logs ?? undefined;
    this.#inflight = inflight;
    this.#contextOf = contextOf;
  }

  get signal(): AbortSignal {
    return this.#inflight.abort.signal;
  }

  onAbort(listener: (reason: unknown) => void): void {
    this.#inflight.abort.onAbort(listener);
  }

  get context(): TaskContext {
    return this.#contextOf(this.#inflight);
  }
}

/** A claimed run waiting in the worker's prefetch buffer for a free slot. */
interface Buffered {
  row: ClaimedRunRow;
  claimedAt: number;
}

/** The buffer holds about this much work, judged by how fast runs have been finishing. */
const PREFETCH_WINDOW_MS = 250;
/** The finish rate is measured over windows at least this long. */
const RATE_WINDOW_MS = 50;
/** A buffered run waiting longer than this goes back to the queue for any worker to take. */
const PREFETCH_TTL_MS = 5_000;

let workersInProcess = 0;

/** What every write to a claimed run carries: its fence, and whether settling it locks key counters. */
function settleRef(row: ClaimedRunRow): Fence & { keyed: boolean } {
  return { resultId: row.result_id, leaseToken: row.lease_token, keyed: row.keyed };
}

/** Every successful attempt's outcome: one shared object. */
const SUCCESS = Object.freeze({ kind: "success" as const });

/** What `undefined` is stored as (a tagged value). */
const UNDEFINED_JSON = JSON.stringify(encodeValue(undefined));

/** A handler's return value as stored in return_json; null and undefined without the encoder. */
function returnJsonOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return UNDEFINED_JSON;
  return JSON.stringify(encodeValue(value, "returnValue"));
}

export class Worker {
  readonly id: string;
  #config: ReproqConfig;
  #schema: string;
  #pool: pg.Pool;
  #listener: Listener;
  #executor: Executor;
  #log: Logger;
  #settler: Settler;
  #allow: (name: string) => boolean;
  #backoff: BackoffPolicy;
  #events = new EventEmitter<WorkerEvents>();
  #inflight = new Map<string, InFlight>();
  /** Run timeouts (timeout_seconds from the start of each attempt). */
  #deadlines = new Deadlines<InFlight>(({ row, abort }) =>
    abort.abort(new RunAborted("timeout", `timed out after ${row.timeout_seconds} s`)),
  );
  /** Makes (once) a run's TaskContext; shared by every AttemptRequest. */
  #contextOf = (inflight: InFlight): TaskContext => this.#context(inflight);
  /** Claimed runs not started yet, in claim order (see `prefetch`). */
  #buffer = new Map<string, Buffered>();
  /** Finish rate (runs/s) that sizes the prefetch buffer, and the window it is counted in. */
  #rate = 0;
  #target = 0;
  /** The last claim returned runs holding keys: keep the buffer small (see #prefetchTarget). */
  #claimedKeyed = false;
  #rateSince = Date.now();
  #rateCount = 0;
  #stopping = false;
  #stopped: Promise<void> | null = null;
  #loopDone: Promise<void> | null = null;
  #pending = true;
  #wake: () => void = () => {};
  #timers: NodeJS.Timeout[] = [];
  #unsubscribers: Array<() => void> = [];
  #claimErrors = 0;
  #handleSignals: boolean;
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  #finished = deferred();

  private constructor(init: {
    id: string;
    config: ReproqConfig;
    pool: pg.Pool;
    listener: Listener;
    executor: Executor;
    log: Logger;
    handleSignals: boolean;
  }) {
    this.id = init.id;
    this.#config = init.config;
    this.#schema = init.config.schema;
    this.#pool = init.pool;
    this.#listener = init.listener;
    this.#executor = init.executor;
    this.#log = init.log;
    this.#handleSignals = init.handleSignals;
    this.#allow = makeAllowList(init.config.allowedTaskModules);
    this.#backoff = {
      baseMs: init.config.retryBase,
      capMs: init.config.retryCap,
      jitter: init.config.retryJitter,
    };
    this.#settler = new Settler(init.pool, this.#schema, init.log, (record, held) => {
      if (!held) {
        this.#log.warn(
          { resultId: record.resultId },
          "lease was lost before the outcome was written; the outcome is discarded",
        );
        return;
      }
      // A retry or snooze due before the next poll: claim again when it is due, not at the poll.
      const { outcome } = record;
      if (
        (outcome.kind === "retry" || outcome.kind === "snooze") &&
        outcome.delayMs < init.config.pollInterval
      )
        this.#nudgeAfter(Math.max(1, outcome.delayMs));
    });
  }

  /** Resolves configuration, checks the schema, imports task modules and starts working. */
  static async start(options: WorkerOptions = {}): Promise<Worker> {
    const settings = currentSettings();
    const { pool: appPool, configPath, cwd: settingsCwd, ...overrides } = settings;
    const cwd = options.cwd ?? settingsCwd ?? process.cwd();
    const resolved = await loadConfig({
      cwd,
      configPath: options.configPath ?? configPath,
      overrides: { ...overrides, ...(options.config as object) },
      overrideSource: "code",
    });
    const config = resolved.values;
    assertSchemaName(config.schema);
    const log =
      options.logger === false
        ? pino({ enabled: false })
        : (options.logger ?? pino({ base: { role: "worker" } }, pino.destination(2)));
    if (!config.databaseUrl && !appPool) {
      throw new ConfigError("no database configured: set DATABASE_URL, --dsn, or databaseUrl in the config");
    }
    if (config.heartbeatInterval >= config.leaseDuration) {
      throw new ConfigError(
        `heartbeatInterval (${config.heartbeatInterval} ms) must be shorter than leaseDuration (${config.leaseDuration} ms)`,
      );
    }
    if (config.tasks?.length) await importTaskModules(config.tasks, cwd);
    if (registeredTasks().length === 0) {
      throw new ConfigError(
        "no tasks are registered: pass --tasks (or set tasks in the config) or import your task modules before runWorker()",
      );
    }
    // Built-in tasks (reproq.noop, for stress tests) register whenever the library loads, so a
    // forgotten --tasks still starts a worker: say so plainly rather than run nothing useful.
    const onlyBuiltins = registeredTasks().every((definition) => isBuiltinTask(definition.name));
    const pool = createPool({
      url: config.databaseUrl ?? "",
      max: config.poolSize,
      applicationName: `${config.applicationName}:worker`,
      preparedStatements: config.preparedStatements,
    });
    if (!config.databaseUrl && appPool) Object.assign(pool.options, appPool.options);
    try {
      await assertSchemaCurrent(pool, config.schema);
    } catch (error) {
      await pool.end();
      throw error;
    }
    workersInProcess++;
    const id =
      config.workerId ?? `${hostname()}-${process.pid}${workersInProcess > 1 ? `-${workersInProcess}` : ""}`;
    const listener = new Listener({
      url: config.databaseUrl,
      clientConfig: config.databaseUrl ? undefined : (appPool?.options as pg.ClientConfig),
      applicationName: `${config.applicationName}:worker`,
    });
    let executor: Executor;
    try {
      executor = options.executor ?? (await makeExecutor(config, cwd));
    } catch (error) {
      await pool.end();
      throw error;
    }
    const worker = new Worker({
      id,
      config,
      pool,
      listener,
      executor,
      log: log.child({ workerId: id }),
      handleSignals: options.handleSignals ?? false,
    });
    await worker.#begin();
    if (onlyBuiltins) {
      worker.#log.warn(
        "only built-in tasks (reproq.noop) are registered: pass --tasks (or set tasks) to run your own tasks",
      );
    }
    return worker;
  }

  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.#events.off(event, listener as never);
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

  #emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): void {
    try {
      // EventEmitter's typed emit cannot follow a generic event key; the map above keeps callers typed.
      (this.#events.emit as (name: string, ...rest: unknown[]) => boolean).call(this.#events, event, ...args);
    } catch (error) {
      this.#log.warn({ err: error, event }, "a worker event listener threw");
    }
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
    this.#unsubscribers.push(
      await this.#listener.subscribe(channelName(this.#schema, "enqueued"), (payload) =>
        this.#onEnqueued(payload),
      ),
      await this.#listener.subscribe(channelName(this.#schema, "cancel"), (payload) =>
        this.#onCancel(payload),
      ),
      this.#listener.onReconnect(() => this.#nudge()),
    );
    const every = (ms: number, fn: () => Promise<void>) => {
      const timer = setInterval(() => void fn(), ms);
      this.#timers.push(timer);
    };
    every(config.heartbeatInterval, () => this.#heartbeat());
    every(config.pollInterval, async () => {
      this.#releaseStale();
      this.#nudge();
    });
    every(config.maintenanceInterval, () => this.#maintenance());
    void this.#maintenance();
    if (this.#handleSignals) {
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        const handler = () => {
          if (this.#stopping) {
            this.#log.warn("second signal: aborting running tasks now");
            this.#abortAll("shutdown", "worker stopped by a second signal");
            return;
          }
          this.#log.info({ signal }, "stopping: no new claims, waiting for running tasks");
          void this.stop();
        };
        process.on(signal, handler);
        this.#signalHandlers.push([signal, handler]);
      }
    }
    this.#log.info(
      { queues: config.queues, concurrency: config.concurrency, isolation: this.#executor.kind },
      "worker started",
    );
    this.#loopDone = this.#loop();
  }

  #onEnqueued(payload: string): void {
    let counts: Record<string, number>;
    try {
      counts = JSON.parse(payload) as Record<string, number>;
    } catch {
      this.#nudge();
      return;
    }
    if (Object.keys(counts).some((queue) => queue === "*" || servesQueue(this.#config.queues, queue)))
      this.#nudge();
  }

  #onCancel(payload: string): void {
    const inflight = this.#inflight.get(payload);
    if (inflight) inflight.abort.abort(new RunAborted("cancelled", "cancelled while running"));
    const buffered = this.#buffer.get(payload);
    if (buffered) {
      // Claimed but not started: it ends CANCELLED without running.
      this.#buffer.delete(payload);
      this.#settleFailure(
        buffered.row,
        new RunAborted("cancelled", "cancelled before the run started"),
        null,
        null,
      );
    }
  }

  /** There may be work: claim on the next turn of the loop. */
  #nudge(): void {
    this.#pending = true;
    this.#wake();
  }

  /**
   * When held-back work becomes claimable: retries in 10 ms buckets (thousands of retries share a
   * few timer settings), a rate limit's next token to the millisecond. Each due time is its own
   * key; when it passes, the loop claims.
   */
  #due = new Deadlines<number>(() => this.#nudge());

  /** Claim again in `ms`: a retry due before the next poll. */
  #nudgeAfter(ms: number): void {
    const at = Math.ceil((Date.now() + ms) / 10) * 10;
    this.#due.add(at, at);
  }

  /**
   * Claim again at `at` (epoch ms), to the millisecond: a rate limit's next token. A token must not
   * wait for the next 10 ms bucket: at 200 runs/s with a burst of 1, a token arrives every 5 ms and
   * each claim takes one, so rounding up would halve the rate.
   */
  #nudgeAt(at: number): void {
    // Already due (the claim took longer than the token's wait): claim on the next turn.
    if (at <= Date.now()) this.#nudge();
    else this.#due.add(Math.round(at), Math.round(at));
  }

  /**
   * How many runs to hold claimed beyond the free slots: about PREFETCH_WINDOW_MS of work at
   * the current finish rate, at most `prefetch`. Slow tasks get (almost) no buffer, so a worker
   * never sits on runs that another worker could start sooner.
   */
  #prefetchTarget(): number {
    const max = this.#config.prefetch;
    if (max === 0) return 0;
    const now = Date.now();
    const elapsed = now - this.#rateSince;
    if (elapsed >= RATE_WINDOW_MS) {
      const measured = (this.#rateCount * 1000) / elapsed;
      // Smooth short windows; a long quiet spell replaces the rate outright.
      this.#rate = elapsed > 1000 ? measured : (this.#rate + measured) / 2;
      this.#rateSince = now;
      this.#rateCount = 0;
    }
    // Runs holding keys cost more per batch: each claim and settle locks their key counters, and
    // large batches of them make claims and settles queue behind each other's locks (1,000 keys:
    // 5,000/s with 1,000-run batches, against 8,700/s with batches near the concurrency). A key's
    // slot is also held while its run waits in the buffer. So keyed work prefetches at most one
    // concurrency's worth.
    const cap = this.#claimedKeyed ? Math.min(max, this.#config.concurrency) : max;
    this.#target = Math.min(cap, Math.floor((this.#rate * PREFETCH_WINDOW_MS) / 1000));
    return this.#target;
  }

  async #loop(): Promise<void> {
    const filter = queueFilter(this.#config.queues);
    while (!this.#stopping) {
      this.#fill();
      const free = this.#config.concurrency - this.#inflight.size;
      const target = this.#prefetchTarget();
      const room = free + target - this.#buffer.size;
      // Claim when slots are free and nothing is buffered, or when the buffer ran below half its
      // target: the next batch arrives while the buffered runs still keep every slot busy.
      const low = this.#buffer.size === 0 ? free > 0 : this.#buffer.size <= target / 2;
      if (this.#pending && room > 0 && low) {
        this.#pending = false;
        let rows: ClaimedRunRow[];
        try {
          const sentAt = Date.now();
          const claimed = await claimRuns(this.#pool, this.#schema, {
            workerId: this.id,
            limit: room,
            leaseMs: this.#config.leaseDuration,
            queues: filter,
          });
          rows = claimed.runs;
          // The next token's due time counts from the bucket's refill inside the claim, which is
          // closer to when the claim was sent than to when its answer arrived: timing from the
          // answer would add a round trip to every token's wait (with burst 1, lost for good).
          if (claimed.retryAfterMs !== null) this.#nudgeAt(sentAt + claimed.retryAfterMs);
          this.#claimErrors = 0;
        } catch (error) {
          if (isTransientConflict(error)) {
            // A deadlock with another worker's completion: PostgreSQL rolled one back; just try again.
            this.#pending = true;
            continue;
          }
          this.#claimErrors++;
          const delay = Math.min(5000, 100 * 2 ** Math.min(this.#claimErrors, 6));
          this.#log.warn(
            { err: (mapDatabaseError(error, this.#schema) as Error).message, retryMs: delay },
            "claim failed; retrying",
          );
          this.#pending = true;
          await this.#sleep(delay);
          continue;
        }
        if (this.#stopping) {
          // Claimed while stopping: hand them straight back.
          for (const row of rows) this.#release(row);
          break;
        }
        const claimedAt = Date.now();
        if (rows.length > 0) this.#claimedKeyed = rows.some((row) => row.keyed);
        for (const row of rows) this.#buffer.set(row.result_id, { row, claimedAt });
        if (rows.length === room) this.#pending = true;
        continue;
      }
      await this.#sleep(Number.POSITIVE_INFINITY);
    }
    // Runs claimed but not started go back to the queue at once.
    for (const { row } of this.#buffer.values()) this.#release(row);
    this.#buffer.clear();
  }

  /** Starts buffered runs, in claim order, while slots are free. */
  #fill(): void {
    if (this.#stopping) return;
    for (const [id, { row }] of this.#buffer) {
      if (this.#inflight.size >= this.#config.concurrency) return;
      this.#buffer.delete(id);
      this.#start(row);
    }
  }

  /** Buffered runs that waited past PREFETCH_TTL_MS (their tasks slowed down): back to the queue. */
  #releaseStale(): void {
    const cutoff = Date.now() - PREFETCH_TTL_MS;
    for (const [id, { row, claimedAt }] of this.#buffer) {
      if (claimedAt > cutoff) break;
      this.#buffer.delete(id);
      this.#release(row);
    }
  }

  /** Sleeps until woken (claimable work, a freed slot, stop) or `ms` passed. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : null;
      this.#wake = () => {
        if (timer) clearTimeout(timer);
        this.#wake = () => {};
        resolve();
      };
    });
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

  #runEvent(row: ClaimedRunRow): RunEvent {
    return {
      id: row.result_id,
      taskName: row.task_path,
      queue: row.queue_name,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      workerId: this.id,
    };
  }

  #start(row: ClaimedRunRow): void {
    const definition = getTask(row.task_path);
    const abort = new RunAbort();
    const logs = this.#config.logsDir ? new RunLogs(this.#config.logsDir, row.result_id, row.attempts) : null;
    const inflight: InFlight = {
      row,
      definition,
      abort,
      context: null,
      metadataBefore: "",
      startedAt: Date.now(),
      lost: false,
      logs,
    };
    this.#inflight.set(row.result_id, inflight);
    if (row.cancel_requested)
      abort.abort(new RunAborted("cancelled", "cancel was requested before the run started"));
    void this.#execute(inflight);
  }

  /**
   * The run's TaskContext, made on first use: most handlers do not take a context, and a worker
   * starts thousands of runs a second, so the object, its closures and the metadata snapshot are
   * only made for runs that can see them.
   */
  #context(inflight: InFlight): TaskContext {
    if (inflight.context) return inflight.context;
    const { row, abort } = inflight;
    const fence = { resultId: row.result_id, leaseToken: row.lease_token };
    const metadata = { ...(row.metadata_json ?? {}) };
    // Most handlers never log: the child logger is made on first use, not for every run.
    let taskLogger: Logger | undefined;
    const taskLog = () => {
      taskLogger ??= this.#log.child({ resultId: row.result_id, task: row.task_path });
      return taskLogger;
    };
    const context: TaskContext = {
      resultId: row.result_id,
      attempt: row.attempts,
      taskName: row.task_path,
      queue: row.queue_name,
      metadata,
      saveMetadata: async () => {
        await saveRunMetadata(this.#pool, this.#schema, fence, JSON.stringify(context.metadata));
      },
      signal: abort.signal,
      log: {
        info: (message, fields) => taskLog().info(fields ?? {}, message),
        warn: (message, fields) => taskLog().warn(fields ?? {}, message),
        error: (message, fields) => taskLog().error(fields ?? {}, message),
      },
    };
    inflight.context = context;
    inflight.metadataBefore = JSON.stringify(metadata);
    return context;
  }

  async #execute(inflight: InFlight): Promise<void> {
    const { row, definition } = inflight;
    let result: ExecutionResult;
    if (!definition) {
      result = {
        ok: false,
        error: new UnrunnableTask("unknown_task", `task "${row.task_path}" is not registered in this worker`),
      };
    } else if (!this.#allow(row.task_path)) {
      result = {
        ok: false,
        error: new UnrunnableTask(
          "not_allowed",
          `task "${row.task_path}" is not in this worker's allowedTaskModules`,
        ),
      };
    } else {
      let args: unknown[] | null = null;
      try {
        args = decodeArgs(row.args as JsonValue);
      } catch (error) {
        result = { ok: false, error: new UnrunnableTask("bad_payload", (error as Error).message) };
      }
      if (args) {
        this.#deadlines.add(inflight, Date.now() + row.timeout_seconds * 1000);
        if (this.#events.listenerCount("started") > 0) this.#emit("started", this.#runEvent(row));
        result = await this.#executor
          .execute(new AttemptRequest(inflight, definition, args, this.#contextOf))
          .catch((error: unknown) => ({ ok: false as const, error }));
      }
    }
    // Every branch above assigns result.
    this.#finish(inflight, result!);
  }

  #finish(inflight: InFlight, result: ExecutionResult): void {
    const { row } = inflight;
    this.#deadlines.delete(inflight);
    this.#inflight.delete(row.result_id);
    this.#rateCount++;
    // The freed slot goes to the next buffered run at once; the claim loop only needs waking
    // when the buffer is running low.
    this.#fill();
    if (this.#buffer.size <= this.#target / 2) this.#wake();
    if (
      inflight.lost ||
      (!result.ok && result.error instanceof RunAborted && result.error.reason === "lease_lost")
    ) {
      this.#log.warn(
        { resultId: row.result_id },
        "lease lost while running; another worker owns the run now",
      );
      return;
    }
    // No context was made: the handler could not have changed the metadata.
    const metadataNow = inflight.context ? JSON.stringify(inflight.context.metadata) : null;
    const metadataJson = metadataNow !== null && metadataNow !== inflight.metadataBefore ? metadataNow : null;
    const logsUri = inflight.logs?.finish() ?? null;
    if (result.ok) {
      let returnJson: string | undefined;
      try {
        returnJson = returnJsonOf(result.value);
      } catch (error) {
        result = { ok: false, error: new UnrunnableTask("bad_return", (error as Error).message) };
      }
      if (returnJson !== undefined) {
        this.#settler.settle({
          resultId: row.result_id,
          leaseToken: row.lease_token,
          keyed: row.keyed,
          outcome: SUCCESS,
          returnJson,
          metadataJson,
          logsUri,
        });
        if (this.#events.listenerCount("succeeded") > 0)
          this.#emit("succeeded", {
            ...this.#runEvent(row),
            returnValue: result.ok ? result.value : undefined,
            durationMs: Date.now() - inflight.startedAt,
          });
        return;
      }
    }
    if (result.ok) return;
    this.#settleFailure(row, result.error, metadataJson, logsUri);
  }

  /** Classifies a failed attempt (retry, fail, cancel, snooze, release), queues its outcome and tells listeners. */
  #settleFailure(
    row: ClaimedRunRow,
    error: unknown,
    metadataJson: string | null,
    logsUri: string | null,
  ): void {
    const { outcome, record } = this.#classify(row, error);
    this.#settler.settle({
      ...settleRef(row),
      outcome,
      errorJson: record ? JSON.stringify(record) : null,
      lastError:
        record && (outcome.kind === "fail" || outcome.kind === "cancel")
          ? record.message.slice(0, 1024)
          : null,
      metadataJson,
      logsUri,
    });
    const event = this.#runEvent(row);
    if (outcome.kind === "retry" && record)
      this.#emit("retrying", { ...event, error: record, delayMs: outcome.delayMs });
    else if (outcome.kind === "fail" && record) this.#emit("failed", { ...event, error: record });
    else if (outcome.kind === "cancel") this.#emit("cancelled", event);
  }

  #classify(row: ClaimedRunRow, error: unknown): { outcome: FailureOutcome; record: ErrorRecord | null } {
    const record = (kind: string): ErrorRecord => {
      const err = error instanceof Error ? error : null;
      return {
        kind,
        class: err ? err.constructor?.name || err.name : typeof error,
        message: err ? err.message : String(error),
        stack: err?.stack ?? null,
        attempt: row.attempts,
        worker: this.id,
        at: new Date().toISOString(),
      };
    };
    const retryOrFail = (kind: string) => {
      if (row.attempts < row.max_attempts) {
        const policy = taskBackoff(getTask(row.task_path), this.#backoff);
        return {
          outcome: { kind: "retry", delayMs: retryDelayMs(row.attempts, policy) } as const,
          record: record(kind),
        };
      }
      return { outcome: { kind: "fail" } as const, record: record(kind) };
    };
    if (error instanceof RunAborted) {
      switch (error.reason) {
        case "timeout":
          return retryOrFail("timeout");
        case "cancelled":
          return { outcome: { kind: "cancel" }, record: record("cancelled") };
        default:
          return { outcome: { kind: "release" }, record: null };
      }
    }
    if (error instanceof SnoozeSignal)
      return { outcome: { kind: "snooze", delayMs: error.delayMs }, record: null };
    if (error instanceof UnrunnableTask) return { outcome: { kind: "fail" }, record: record(error.kind) };
    if (error instanceof NonRetryableError) {
      // Errors rebuilt from a child process carry the kind the child determined (unknown_task, bad_return ...).
      const kind = (error as NonRetryableError & { kind?: unknown }).kind;
      return { outcome: { kind: "fail" }, record: record(typeof kind === "string" ? kind : "non_retryable") };
    }
    return retryOrFail("exception");
  }

  async #heartbeat(): Promise<void> {
    const sent = new Map<string, InFlight>();
    for (const [id, inflight] of this.#inflight) if (!inflight.lost) sent.set(id, inflight);
    const buffered = [...this.#buffer.values()];
    const fences = [
      ...[...sent.values()].map(({ row }) => settleRef(row)),
      ...buffered.map(({ row }) => settleRef(row)),
      ...this.#settler.pendingFences(),
    ];
    try {
      const held = await heartbeatRuns(this.#pool, this.#schema, fences, this.#config.leaseDuration);
      const heldIds = new Set(held.map((r) => r.result_id));
      for (const [id, inflight] of sent) {
        if (this.#inflight.get(id) !== inflight) continue;
        if (!heldIds.has(id)) {
          inflight.lost = true;
          inflight.abort.abort(
            new RunAborted("lease_lost", "the lease was lost (another worker re-claimed the run)"),
          );
        }
      }
      for (const entry of buffered) {
        // Lost while buffered (the reaper or an operator took it back): never start it.
        if (!heldIds.has(entry.row.result_id) && this.#buffer.get(entry.row.result_id) === entry)
          this.#buffer.delete(entry.row.result_id);
      }
      for (const row of held) {
        if (row.cancel_requested) this.#onCancel(row.result_id);
      }
      await touchWorker(this.#pool, this.#schema, this.id);
    } catch (error) {
      this.#log.warn({ err: (mapDatabaseError(error, this.#schema) as Error).message }, "heartbeat failed");
    }
  }

  async #maintenance(): Promise<void> {
    if (this.#stopping) return;
    let client: pg.PoolClient | null = null;
    const key = advisoryKey(this.#schema, "maintenance");
    try {
      client = await this.#pool.connect();
      if (!(await tryAdvisoryLock(client, key))) return;
      try {
        await runMaintenance(client, this.#schema, this.#config, this.#log);
      } finally {
        await advisoryUnlock(client, key);
      }
    } catch (error) {
      this.#log.warn({ err: (mapDatabaseError(error, this.#schema) as Error).message }, "maintenance failed");
    } finally {
      client?.release();
    }
  }

  #abortAll(cause: "shutdown", message: string): void {
    for (const inflight of this.#inflight.values()) inflight.abort.abort(new RunAborted(cause, message));
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
    this.#stopping = true;
    this.#wake();
    await this.#loopDone;
    const deadline = Date.now() + graceMs;
    while (this.#inflight.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    if (this.#inflight.size > 0) {
      this.#log.warn(
        { running: this.#inflight.size },
        "grace period over: aborting and releasing running tasks",
      );
      this.#abortAll("shutdown", "the worker shut down before the run finished");
      while (this.#inflight.size > 0) await new Promise((r) => setTimeout(r, 10));
    }
    for (const timer of this.#timers) clearInterval(timer);
    this.#due.clear();
    this.#deadlines.clear();
    const written = await this.#settler.drain(30_000);
    if (!written)
      this.#log.error(
        { pending: this.#settler.size },
        "could not write every outcome; those leases will expire",
      );
    for (const unsubscribe of this.#unsubscribers) unsubscribe();
    for (const [signal, handler] of this.#signalHandlers) process.off(signal, handler);
    await unregisterWorker(this.#pool, this.#schema, this.id).catch(() => {});
    await this.#executor.close();
    await this.#listener.close();
    await this.#pool.end().catch(() => {});
    this.#log.info("worker stopped");
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

async function makeExecutor(config: ReproqConfig, cwd: string): Promise<Executor> {
  if (config.isolation !== "process") return new InProcessExecutor();
  const { ProcessExecutor } = await import("./process-executor.js");
  // Children resolve configuration on their own; hand them this worker's database so handlers can enqueue.
  const env: Record<string, string> = { REPROQ_SCHEMA: config.schema };
  if (config.databaseUrl) env.REPROQ_DATABASE_URL = config.databaseUrl;
  return new ProcessExecutor({
    taskModules: config.tasks ?? [],
    cwd,
    maxRunsPerChild: config.maxRunsPerChild,
    maxMemoryMb: config.maxChildMemoryMb,
    env,
  });
}

/** A run that cannot be executed at all (unknown task, not allowed, bad payload): never retried. */
class UnrunnableTask extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = "UnrunnableTask";
    this.kind = kind;
  }
}

function taskBackoff(definition: TaskDefinition | undefined, fallback: BackoffPolicy): BackoffPolicy {
  const retry = definition?.options.retry;
  if (!retry) return fallback;
  return {
    baseMs: retry.base !== undefined ? parseDuration(retry.base) : fallback.baseMs,
    capMs: retry.cap !== undefined ? parseDuration(retry.cap) : fallback.capMs,
    jitter: retry.jitter ?? fallback.jitter,
  };
}

/** One maintenance pass: reap expired leases, expire unstarted runs, apply retention. */
export async function runMaintenance(
  db: pg.ClientBase,
  schema: string,
  config: Pick<ReproqConfig, "retainSuccessful" | "retainFailed">,
  log?: Logger,
): Promise<{ reaped: number; expired: number; deleted: number }> {
  const BATCH = 500;
  let reaped = 0;
  let expired = 0;
  let deleted = 0;
  for (let i = 0; i < 20; i++) {
    const rows = await reapExpiredLeases(db, schema, BATCH);
    reaped += rows.length;
    if (rows.length < BATCH) break;
  }
  for (let i = 0; i < 20; i++) {
    const rows = await expireRuns(db, schema, BATCH);
    expired += rows.length;
    if (rows.length < BATCH) break;
  }
  const rules: Array<[string[], number]> = [
    [["SUCCESSFUL"], config.retainSuccessful],
    [["FAILED", "CANCELLED", "EXPIRED"], config.retainFailed],
  ];
  for (const [statuses, age] of rules) {
    if (age <= 0) continue;
    for (let i = 0; i < 20; i++) {
      const n = await deleteFinishedRuns(db, schema, statuses, age, 1000);
      deleted += n;
      if (n < 1000) break;
    }
  }
  if (reaped + expired + deleted > 0) log?.info({ reaped, expired, deleted }, "maintenance pass");
  return { reaped, expired, deleted };
}
