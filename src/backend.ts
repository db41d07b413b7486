/**
 * The producer side for one database: enqueue, bulkEnqueue (one statement, deduplicated
 * race-free by the unique partial index), getResult, wait, migrate. Configuration and the
 * pool are resolved lazily on first use, so getBackend() itself never blocks or fails.
 */
import { EventEmitter } from "node:events";
import type pg from "pg";
import { loadConfig, type ResolvedConfig } from "./config/load.js";
import type { ReproqConfig, ReproqConfigInput } from "./config/schema.js";
import { type Connection, connect } from "./db/connect.js";
import { assertSchemaName } from "./db/names.js";
import { disableClientPreparedStatements, mapDatabaseError, type Queryable } from "./db/pool.js";
import { RunFeed } from "./db/run-feed.js";
import { withClientTransaction, withTransaction } from "./db/transaction.js";
import { checkOptionKeys, type EnqueueOptions, type TaskDefinition } from "./definition.js";
import {
  ConflictError,
  ConnectionError,
  errorWithin,
  InvalidInputError,
  TaskResultNotFoundError,
  WaitTimeoutError,
} from "./errors.js";
import { parseRunId, type RunIdInput } from "./ids.js";
import { type Provenance, resolveProvenance } from "./provenance.js";
import { type RunBase, type RunRow, resolveBase, resolveWithBase } from "./resolve-run.js";
import { type ResultSource, TaskResult } from "./result.js";
import { type MigrateResult, type MigrationStatus, migrationStatus, runMigrations } from "./sql/migrate.js";
import {
  insertRuns,
  type NewRun,
  selectActiveByDedupKeys,
  selectRunById,
  type TaskRunRow,
} from "./sql/runs.js";

/** A bulk item: `[task, args]` or `[task, args, options]`, type-checked like `.enqueue()`. */
export type BulkItem<A extends unknown[] = unknown[], R = unknown> =
  | readonly [TaskDefinition<A, R>, Readonly<A>]
  | readonly [TaskDefinition<A, R>, Readonly<A>, EnqueueOptions<A>];

// biome-ignore lint/suspicious/noExplicitAny: erases each item's argument types so one array can hold different tasks
type AnyBulkItem = BulkItem<any, any>;

/** Checks every item of a heterogeneous array against its own task's argument types. */
export type CheckedBulkItems<T extends readonly unknown[]> = {
  [K in keyof T]: T[K] extends readonly [TaskDefinition<infer A, infer R>, ...unknown[]]
    ? BulkItem<A, R>
    : AnyBulkItem;
};

export interface BulkEnqueueOptions {
  /** A node-postgres client inside your transaction. */
  client?: Queryable;
}

export interface BackendOptions {
  alias: string;
  overrides: ReproqConfigInput;
  pool?: pg.Pool;
  configPath?: string;
  cwd?: string;
}

interface BackendState {
  resolved: ResolvedConfig;
  config: ReproqConfig;
  schema: string;
  pool: pg.Pool;
  connection: Connection;
  provenance: Provenance;
  feed: RunFeed;
}

export type BackendEvents = {
  enqueued: [result: TaskResult];
};

/** Per-call memo of #prepare: resolved options by task and options object, and the provenance JSON. */
interface PrepareCache {
  bases: Map<TaskDefinition, Map<EnqueueOptions | undefined, RunBase>>;
  provenanceJson: string;
}

function newPrepareCache(state: BackendState): PrepareCache {
  return { bases: new Map(), provenanceJson: JSON.stringify(state.provenance) };
}

/**
 * The argument-independent part is resolved once per task and options object (an omitted options
 * argument counts as one), so a bulk of one task validates its options once, naming the first item.
 */
function resolveCached(
  config: ReproqConfig,
  cache: PrepareCache,
  definition: TaskDefinition,
  options: EnqueueOptions | undefined,
  args: readonly unknown[],
  where: string,
  workflow: { id: string; step: number } | undefined,
): { base: RunBase; run: RunRow } {
  let byOptions = cache.bases.get(definition);
  if (byOptions === undefined) {
    byOptions = new Map();
    cache.bases.set(definition, byOptions);
  }
  let base = byOptions.get(options);
  if (base === undefined) {
    base = resolveBase(definition, options ?? {}, config, where);
    byOptions.set(options, base);
  }
  const run = resolveWithBase(base, args, where, workflow ?? null, config.maxPayloadBytes);
  return { base, run };
}

/** Fallback re-check while waiting, in case a notification was missed (it never replaces NOTIFY). */
const WAIT_RECHECK_MS = 5000;
const DEDUP_RETRIES = 5;
/**
 * Bulk calls of at least two chunks without dedup keys are inserted chunk by chunk, each chunk
 * prepared while the one before is inserted (about 4 us of producer work per run against 11 us of
 * PostgreSQL's).
 */
const PIPELINE_CHUNK = 2500;
/** A bulk call that PostgreSQL rolled back to break a deadlock or a serialization conflict runs again. */
const DEADLOCK_RETRIES = 3;

export class Backend implements ResultSource {
  readonly alias: string;
  readonly aliasIds = false;
  #options: BackendOptions;
  #state: Promise<BackendState> | undefined;
  #closed = false;
  #events = new EventEmitter<BackendEvents>();

  constructor(options: BackendOptions) {
    this.alias = options.alias;
    this.#options = options;
  }

  /** Resolves configuration (file, env, configure()) and opens the pool, once. */
  #ready(): Promise<BackendState> {
    if (this.#closed)
      return Promise.reject(
        new ConnectionError(
          `backend "${this.alias}" was used after close(); close() is final, so call configure() first to open a new backend`,
        ),
      );
    this.#state ??= this.#init();
    return this.#state;
  }

  async #init(): Promise<BackendState> {
    const cwd = this.#options.cwd ?? process.cwd();
    const resolved = await loadConfig({
      cwd,
      configPath: this.#options.configPath,
      overrides: this.#options.overrides,
      overrideSource: "code",
    });
    const config = resolved.values;
    const schema = assertSchemaName(config.schema);
    const connection = connect({ config, appPool: this.#options.pool, shareAppPool: true });
    const provenance = resolveProvenance({ codeRef: config.codeRef, lockfileHash: config.lockfileHash, cwd });
    return {
      resolved,
      config,
      schema,
      pool: connection.pool,
      connection,
      provenance,
      feed: new RunFeed(connection.listener, schema),
    };
  }

  /** The effective configuration of this backend. */
  async config(): Promise<ReproqConfig> {
    return (await this.#ready()).config;
  }

  /**
   * The run feed of this backend's database: enqueued, cancel-requested and finished events from
   * the schema's notifications, over the backend's one LISTEN connection (opened on first subscribe).
   */
  async feed(): Promise<RunFeed> {
    return (await this.#ready()).feed;
  }

  /** The pool this backend uses (the application's own when given to configure()). */
  async pool(): Promise<pg.Pool> {
    return (await this.#ready()).pool;
  }

  async schema(): Promise<string> {
    return (await this.#ready()).schema;
  }

  on<E extends keyof BackendEvents>(event: E, listener: (...args: BackendEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<E extends keyof BackendEvents>(event: E, listener: (...args: BackendEvents[E]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  /** Applies pending migrations to this backend's database and schema. */
  async migrate(): Promise<MigrateResult> {
    const state = await this.#ready();
    return runMigrations(state.pool, state.schema);
  }

  async migrationStatus(): Promise<MigrationStatus> {
    const state = await this.#ready();
    return migrationStatus(state.pool, state.schema);
  }

  async enqueue<A extends unknown[], R>(
    definition: TaskDefinition<A, R>,
    args: Readonly<A>,
    options: EnqueueOptions<A> = {},
  ): Promise<TaskResult<R>> {
    const [result] = await this.#enqueueMany([[definition, args, options]], options.client, false);
    return result as TaskResult<R>;
  }

  /** Enqueues many runs in one statement; results come back in input order. */
  async bulkEnqueue<const T extends readonly AnyBulkItem[]>(
    items: T & CheckedBulkItems<T>,
    options: BulkEnqueueOptions = {},
  ): Promise<TaskResult[]> {
    if (!Array.isArray(items)) {
      throw new InvalidInputError("bulkEnqueue: expected an array of [task, args, options?] items");
    }
    checkOptionKeys(options, ["client"], "option", "bulkEnqueue");
    return this.#enqueueMany(items as readonly AnyBulkItem[], options.client, true);
  }

  async #enqueueMany(
    items: readonly AnyBulkItem[],
    client: Queryable | undefined,
    bulk: boolean,
  ): Promise<TaskResult[]> {
    const state = await this.#ready();
    const cache = newPrepareCache(state);
    const prepareRange = (from: number, to: number): NewRun[] => {
      const runs = new Array<NewRun>(to - from);
      for (let index = from; index < to; index++) {
        runs[index - from] = this.#prepare(state, cache, items[index]!, bulk ? `item ${index}` : undefined);
      }
      return runs;
    };
    if (client && !state.config.preparedStatements) disableClientPreparedStatements(client);
    let rows: Array<{ row: TaskRunRow; deduplicated: boolean }>;
    if (!client && !state.config.dedupActive && items.length >= 2 * PIPELINE_CHUNK) {
      rows = await this.#insertPipelined(state, items.length, prepareRange);
      return this.#results(rows);
    }
    // Everything is validated and encoded before the database is touched: bad input leaves no rows.
    const runs = prepareRange(0, items.length);
    if (runs.length === 0) return [];
    try {
      if (client) {
        rows = await this.#insertDeduplicated(client, state.schema, runs);
      } else if (runs.length === 1) {
        rows = await this.#insertDeduplicated(state.pool, state.schema, runs);
      } else {
        rows = await withTransaction(state.pool, (c) => this.#insertDeduplicated(c, state.schema, runs), {
          retries: DEADLOCK_RETRIES,
        });
      }
    } catch (error) {
      throw mapDatabaseError(error, state.schema);
    }
    return this.#results(rows);
  }

  /**
   * A large bulk call without dedup keys (dedupActive off) in chunks, in one transaction of its
   * own: each chunk is validated and encoded while the previous chunk's insert runs, so the
   * producer's work overlaps PostgreSQL's instead of preceding it. Bad input in a later chunk rolls
   * the transaction back: still no rows. Runs with dedup keys go in one statement, in key order
   * (insertRuns): chunks of concurrent calls could wait on each other's keys in a cycle.
   */
  async #insertPipelined(
    state: BackendState,
    count: number,
    prepareRange: (from: number, to: number) => NewRun[],
  ): Promise<Array<{ row: TaskRunRow; deduplicated: boolean }>> {
    // The first chunk is checked before a connection is taken, as an unchunked call would be.
    const first = prepareRange(0, PIPELINE_CHUNK);
    const rows: Array<{ row: TaskRunRow; deduplicated: boolean }> = [];
    try {
      await withTransaction(
        state.pool,
        async (c) => {
          rows.length = 0;
          let runs = first;
          let from = 0;
          for (;;) {
            const inserting = this.#insertDeduplicated(c, state.schema, runs);
            // Settled here too, so a validation error below never leaves it rejected and unobserved.
            inserting.catch(() => {});
            const next = from + runs.length;
            let following: NewRun[] | null = null;
            try {
              following = next < count ? prepareRange(next, Math.min(count, next + PIPELINE_CHUNK)) : null;
            } finally {
              // The connection is busy until the insert ends: wait for it even when validation failed,
              // so the rollback is not queued behind a statement whose error would go unseen.
              for (const row of await inserting) rows.push(row);
            }
            if (!following) break;
            runs = following;
            from = next;
          }
        },
        { retries: DEADLOCK_RETRIES },
      );
    } catch (error) {
      throw mapDatabaseError(error, state.schema);
    }
    return rows;
  }

  #results(rows: Array<{ row: TaskRunRow; deduplicated: boolean }>): TaskResult[] {
    const results = rows.map(({ row, deduplicated }) => new TaskResult(row, this, deduplicated));
    for (const result of results) {
      try {
        this.#events.emit("enqueued", result);
      } catch {
        // A listener's failure must not turn a committed enqueue into an error.
      }
    }
    return results;
  }

  /**
   * Inserts the runs; each run whose dedup key is already active (or repeated earlier in the
   * batch) resolves to that run instead. A conflicting run that finished in between is inserted anew.
   */
  async #insertDeduplicated(
    db: Queryable,
    schema: string,
    runs: readonly NewRun[],
  ): Promise<Array<{ row: TaskRunRow; deduplicated: boolean }>> {
    const out: Array<{ row: TaskRunRow; deduplicated: boolean } | undefined> = new Array(runs.length);
    const firstByKey = new Map<string, number>();
    const repeats: Array<[index: number, first: number]> = [];
    let pending: number[] = [];
    runs.forEach((run, index) => {
      if (run.dedupKey !== null) {
        const first = firstByKey.get(run.dedupKey);
        if (first !== undefined) {
          repeats.push([index, first]);
          return;
        }
        firstByKey.set(run.dedupKey, index);
      }
      pending.push(index);
    });

    for (let round = 0; pending.length > 0; round++) {
      if (round > DEDUP_RETRIES) {
        throw new ConflictError(
          `could not enqueue ${pending.length} run(s): their duplicates kept finishing while being looked up; retry the enqueue`,
        );
      }
      const outcomes = await insertRuns(
        db,
        schema,
        pending.map((i) => runs[i]!),
      );
      const conflicted: number[] = [];
      outcomes.forEach((outcome, k) => {
        const index = pending[k]!;
        if (outcome.row) out[index] = { row: outcome.row, deduplicated: false };
        else conflicted.push(index);
      });
      if (conflicted.length === 0) break;
      const existing = await selectActiveByDedupKeys(
        db,
        schema,
        conflicted.map((i) => runs[i]!.dedupKey!),
      );
      const byKey = new Map(existing.map((row) => [row.dedup_key!, row]));
      pending = [];
      for (const index of conflicted) {
        const row = byKey.get(runs[index]!.dedupKey!);
        if (row) out[index] = { row, deduplicated: true };
        else pending.push(index);
      }
    }
    for (const [index, first] of repeats) {
      out[index] = { row: out[first]!.row, deduplicated: true };
    }
    return out as Array<{ row: TaskRunRow; deduplicated: boolean }>;
  }

  /**
   * @internal Validates and encodes items exactly as bulkEnqueue does, touching no database.
   * With `workflow`, item i becomes step i of that workflow (part of its spec and hash).
   */
  async prepareRuns(
    items: readonly AnyBulkItem[],
    workflow?: { id: string; label: string },
  ): Promise<NewRun[]> {
    const state = await this.#ready();
    const cache = newPrepareCache(state);
    return items.map((item, index) =>
      this.#prepare(
        state,
        cache,
        item,
        workflow ? `${workflow.label} ${index}` : `item ${index}`,
        workflow ? { id: workflow.id, step: index } : undefined,
      ),
    );
  }

  /**
   * @internal Runs `fn` as one transaction: under a savepoint in the caller's transaction when given
   * its client (or a transaction of its own on that client when it has none open), else on a pooled
   * connection.
   */
  async transaction<T>(
    client: Queryable | undefined,
    fn: (db: Queryable, schema: string) => Promise<T>,
  ): Promise<T> {
    const state = await this.#ready();
    try {
      if (client) {
        if (!state.config.preparedStatements) disableClientPreparedStatements(client);
        return await withClientTransaction(client, (c) => fn(c, state.schema));
      }
      return await withTransaction(state.pool, (c) => fn(c, state.schema));
    } catch (error) {
      throw mapDatabaseError(error, state.schema);
    }
  }

  /** @internal Wraps freshly inserted rows as results and announces them like enqueue() does. */
  resultsOf(rows: readonly TaskRunRow[], announce: boolean): TaskResult[] {
    const results = rows.map((row) => new TaskResult(row, this));
    if (announce) {
      for (const result of results) {
        try {
          this.#events.emit("enqueued", result);
        } catch {
          // A listener's failure must not turn a committed enqueue into an error.
        }
      }
    }
    return results;
  }

  #prepare(
    state: BackendState,
    cache: PrepareCache,
    item: AnyBulkItem,
    label: string | undefined,
    workflow?: { id: string; step: number },
  ): NewRun {
    if (!Array.isArray(item) || item.length < 2 || item.length > 3) {
      throw new InvalidInputError(
        `bulkEnqueue ${label ?? ""}: expected [task, args] or [task, args, options]`.trim(),
      );
    }
    const [definition, args, options] = item as unknown as [
      TaskDefinition,
      readonly unknown[],
      EnqueueOptions?,
    ];
    if (!definition || typeof definition.name !== "string" || typeof definition.handler !== "function") {
      throw new InvalidInputError(
        `${label ?? "enqueue"}: the first element must be a task created with task()`,
      );
    }
    if (!Array.isArray(args)) {
      throw new InvalidInputError(
        `${label ? `${label} ` : ""}task "${definition.name}": args must be an array`,
      );
    }
    const where = `${label ? `${label} ` : ""}task "${definition.name}"`;
    let resolved: { base: RunBase; run: RunRow };
    try {
      resolved = resolveCached(state.config, cache, definition, options, args, where, workflow);
    } catch (error) {
      // Encoding errors and key functions do not know which item they are about.
      throw errorWithin(error, where);
    }
    const { base, run } = resolved;
    return {
      queueName: base.queue,
      priority: base.priority,
      runAt: base.runAt,
      delayMs: base.delayMs,
      specJson: run.canonical,
      specHash: run.hash,
      dedupKey: state.config.dedupActive ? run.hash : null,
      taskPath: definition.name,
      maxAttempts: base.maxAttempts,
      timeoutSeconds: base.timeoutSeconds,
      lockKey: run.lockKey,
      concurrencyKey: run.concurrencyKey,
      concurrencyLimit: run.concurrencyLimit,
      expiresInMs: base.expiresInMs,
      provenanceJson: cache.provenanceJson,
      status: "READY",
      parentId: null,
      workflowId: workflow?.id ?? null,
      waitCount: 0,
    };
  }

  /** Loads a run by id; throws TaskResultNotFoundError when there is none. */
  async getResult<R = unknown>(id: RunIdInput): Promise<TaskResult<R>> {
    const parsed = parseRunId(id);
    if (parsed.alias !== null && parsed.alias !== this.alias) {
      throw new InvalidInputError(
        `run id ${String(id)} belongs to database "${parsed.alias}", not "${this.alias}"`,
      );
    }
    const row = await this.fetchRow(parsed.resultId);
    return new TaskResult<R>(row, this);
  }

  /** @internal ResultSource: reloads one row. */
  async fetchRow(resultId: string): Promise<TaskRunRow> {
    const state = await this.#ready();
    let row: TaskRunRow | null;
    try {
      row = await selectRunById(state.pool, state.schema, resultId);
    } catch (error) {
      throw mapDatabaseError(error, state.schema);
    }
    if (!row) throw new TaskResultNotFoundError(resultId);
    return row;
  }

  /** @internal ResultSource: waits for a final status, woken by the `<schema>.finished` NOTIFY. */
  async waitForFinish(
    resultId: string,
    timeoutMs: number | undefined,
    check: () => Promise<boolean>,
  ): Promise<void> {
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
      throw new InvalidInputError(`wait: timeout must be a number of milliseconds >= 0, got ${timeoutMs}`);
    }
    const state = await this.#ready();
    let notified = false;
    let wake: () => void = () => {};
    const signal = () => {
      notified = true;
      wake();
    };
    let unsubscribe: () => void;
    try {
      // A reconnect means a notification may have been missed: check again.
      unsubscribe = await state.feed.subscribe(["finished", "reconnected"], (event) => {
        if (event.type === "reconnected" || event.id === resultId) signal();
      });
    } catch (error) {
      throw mapDatabaseError(error, state.schema);
    }
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    try {
      for (;;) {
        notified = false;
        try {
          if (await check()) return;
        } catch (error) {
          // A connection blip must not end the wait: the listener reconnects and wakes us again.
          if (!(mapDatabaseError(error, state.schema) instanceof ConnectionError)) throw error;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          const row = await this.fetchRow(resultId).catch(() => null);
          throw new WaitTimeoutError(
            resultId,
            timeoutMs ?? 0,
            row?.status ?? "unknown (database unreachable)",
          );
        }
        if (notified) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(remaining, WAIT_RECHECK_MS));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = () => {};
      }
    } finally {
      unsubscribe();
    }
  }

  /** Closes the listener and, unless it was the application's own, the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const state = await this.#state?.catch(() => undefined);
    this.#state = undefined;
    if (!state) return;
    await state.connection.close();
  }
}
