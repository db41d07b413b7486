/**
 * A worker's status snapshot (`worker.status()`): what it runs now, what it holds, what it has
 * done since it started. Plain data, safe to JSON.stringify; the worker's /metrics, /healthz and
 * the terminal UI are built on it.
 */
import { hostname } from "node:os";
import type pg from "pg";
import type { ClaimedRunRow } from "../sql/worker.js";
import { PACKAGE_VERSION } from "../version.js";
import type { WorkerState } from "./events.js";

/** What happened to runs in this worker since it started (one set per queue, per task and in all). */
export interface RunCounts {
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  cancelled: number;
  snoozed: number;
  /** Runs whose lease this worker lost while running or buffering them. */
  leaseLost: number;
  /** Expired unstarted runs, by this worker's maintenance pass. */
  expired: number;
  /** Expired leases (of any worker) this worker's maintenance pass reclaimed. */
  reclaimed: number;
}

export type RunCounter = keyof RunCounts;

export interface InFlightRun {
  id: string;
  taskName: string;
  queue: string;
  attempt: number;
  maxAttempts: number;
  /** When this attempt started (ISO 8601). */
  startedAt: string;
  /** When its timeout aborts it (ISO 8601). */
  deadline: string;
}

export interface WorkerStatus {
  workerId: string;
  version: string;
  hostname: string;
  pid: number;
  state: WorkerState;
  /** ISO 8601. */
  startedAt: string;
  uptimeMs: number;
  queues: string[];
  concurrency: number;
  isolation: string;
  inFlight: InFlightRun[];
  /** Claimed runs waiting for a free slot. */
  buffered: number;
  /** How many runs the buffer aims to hold at the current finish rate. */
  prefetchTarget: number;
  /** Outcomes computed but not yet written to the database. */
  pendingSettles: number;
  counts: { total: RunCounts; byQueue: Record<string, RunCounts>; byTask: Record<string, RunCounts> };
  /** Claims that found a rate limit exhausted and waited for its next token. */
  rateLimitWaits: number;
  /** ISO 8601 of the last claim that answered (with runs or without), or null. */
  lastClaimAt: string | null;
  /** ISO 8601 of the last heartbeat that reached the database, or null. */
  lastHeartbeatAt: string | null;
  /** ISO 8601 of the last maintenance pass this worker ran, or null. */
  lastMaintenanceAt: string | null;
  /** The last claim or heartbeat error while it persists (cleared by the next success). */
  lastError: string | null;
  /** Times the event loop was blocked for a second or more (see worker.md), and the last one. */
  eventLoopStalls: { count: number; lastBlockedMs: number | null; lastAt: string | null };
  pool: { total: number; idle: number; waiting: number; max: number };
  memory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number };
}

function zero(): RunCounts {
  return {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    cancelled: 0,
    snoozed: 0,
    leaseLost: 0,
    expired: 0,
    reclaimed: 0,
  };
}

function countsIn(map: Map<string, RunCounts>, key: string): RunCounts {
  let counts = map.get(key);
  if (!counts) {
    counts = zero();
    map.set(key, counts);
  }
  return counts;
}

/**
 * Run counters by queue and by task. Bumped for every run, so a bump is two map lookups; the keys
 * are the queues and tasks of runs this worker saw, which are bounded by what it serves.
 */
export class Counters {
  readonly total = zero();
  #byQueue = new Map<string, RunCounts>();
  #byTask = new Map<string, RunCounts>();

  bump(counter: RunCounter, queue: string, taskName: string, by = 1): void {
    this.total[counter] += by;
    countsIn(this.#byQueue, queue)[counter] += by;
    countsIn(this.#byTask, taskName)[counter] += by;
  }

  snapshot(): WorkerStatus["counts"] {
    const copy = (map: Map<string, RunCounts>) =>
      Object.fromEntries([...map].map(([key, counts]) => [key, { ...counts }]));
    return { total: { ...this.total }, byQueue: copy(this.#byQueue), byTask: copy(this.#byTask) };
  }
}

/** Where a snapshot's figures come from (the worker's parts). */
export interface StatusSources {
  workerId: string;
  state: WorkerState;
  startedAt: number;
  queues: readonly string[];
  concurrency: number;
  isolation: string;
  running: Iterable<{ row: ClaimedRunRow; startedAt: number }>;
  buffered: number;
  prefetchTarget: number;
  pendingSettles: number;
  counters: Counters;
  rateLimitWaits: number;
  lastClaimAt: number | null;
  lastHeartbeatAt: number | null;
  lastMaintenanceAt: number | null;
  lastError: string | null;
  stalls: { count: number; last: { blockedMs: number; at: number } | null } | null;
  pool: pg.Pool;
  poolMax: number;
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

export function workerStatus(src: StatusSources): WorkerStatus {
  const memory = process.memoryUsage();
  return {
    workerId: src.workerId,
    version: PACKAGE_VERSION,
    hostname: hostname(),
    pid: process.pid,
    state: src.state,
    startedAt: new Date(src.startedAt).toISOString(),
    uptimeMs: Date.now() - src.startedAt,
    queues: [...src.queues],
    concurrency: src.concurrency,
    isolation: src.isolation,
    inFlight: [...src.running].map(({ row, startedAt }) => ({
      id: row.result_id,
      taskName: row.task_path,
      queue: row.queue_name,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      startedAt: new Date(startedAt).toISOString(),
      deadline: new Date(startedAt + row.timeout_seconds * 1000).toISOString(),
    })),
    buffered: src.buffered,
    prefetchTarget: src.prefetchTarget,
    pendingSettles: src.pendingSettles,
    counts: src.counters.snapshot(),
    rateLimitWaits: src.rateLimitWaits,
    lastClaimAt: iso(src.lastClaimAt),
    lastHeartbeatAt: iso(src.lastHeartbeatAt),
    lastMaintenanceAt: iso(src.lastMaintenanceAt),
    lastError: src.lastError,
    eventLoopStalls: {
      count: src.stalls?.count ?? 0,
      lastBlockedMs: src.stalls?.last?.blockedMs ?? null,
      lastAt: iso(src.stalls?.last?.at ?? null),
    },
    pool: {
      total: src.pool.totalCount,
      idle: src.pool.idleCount,
      waiting: src.pool.waitingCount,
      max: src.pool.options.max ?? src.poolMax,
    },
    memory: {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
    },
  };
}
