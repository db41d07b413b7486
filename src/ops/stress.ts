/**
 * The work behind `reproq stress-test`: bulk-enqueue N distinct reproq.noop runs and optionally
 * wait until workers have finished them, timing both.
 */

import type pg from "pg";
import { Backend, type BulkItem } from "../backend.js";
import { NOOP_TASK_NAME, noop } from "../builtins.js";
import type { Queryable } from "../db/pool.js";
import { ReproqError } from "../errors.js";
import { countRunsInRange } from "../sql/stress.js";

export interface EnqueueOutcome {
  count: number;
  /** Lowest and highest result_id enqueued (the runs' range, for waiting). */
  first: string;
  last: string;
  seconds: number;
}

export interface StressEnqueueOptions {
  count: number;
  batch: number;
  queue?: string;
  /** Called after each batch with the number enqueued so far. */
  onProgress?: (done: number) => void;
}

/** Enqueues `count` runs of reproq.noop, each with its own argument so none is deduplicated. */
export async function enqueueNoops(backend: Backend, options: StressEnqueueOptions): Promise<EnqueueOutcome> {
  // Arguments unique across invocations too: an earlier test's still-active runs must not absorb these.
  const base = Date.now() * 1000;
  const extra = options.queue === undefined ? {} : { queue: options.queue };
  let first: bigint | undefined;
  let last: bigint | undefined;
  const started = performance.now();
  for (let done = 0; done < options.count; ) {
    const size = Math.min(options.batch, options.count - done);
    const items: Array<BulkItem<[number, number?], number>> = [];
    for (let i = 0; i < size; i++) items.push([noop, [base + done + i], extra]);
    const results = await backend.bulkEnqueue(items);
    for (const result of results) {
      const id = BigInt(result.resultId);
      if (first === undefined || id < first) first = id;
      if (last === undefined || id > last) last = id;
    }
    done += size;
    options.onProgress?.(done);
  }
  return {
    count: options.count,
    first: String(first ?? 0n),
    last: String(last ?? 0n),
    seconds: (performance.now() - started) / 1000,
  };
}

export interface DrainOutcome {
  seconds: number;
  failed: number;
}

/** Polls every `pollMs` until no run in the range is active; a TIMEOUT error after `timeoutMs`. */
export async function waitForDrain(
  db: Queryable,
  schema: string,
  range: EnqueueOutcome,
  options: { timeoutMs: number; pollMs?: number; onProgress?: (finished: number) => void },
): Promise<DrainOutcome> {
  const started = performance.now();
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const counts = await countRunsInRange(db, schema, NOOP_TASK_NAME, range.first, range.last);
    options.onProgress?.(range.count - counts.active);
    if (counts.active === 0) return { seconds: (performance.now() - started) / 1000, failed: counts.failed };
    if (Date.now() >= deadline) {
      throw new ReproqError(
        "TIMEOUT",
        `${counts.active} of ${range.count} runs still unfinished after ${Math.round(options.timeoutMs / 1000)}s; is a worker serving the queue?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}

/** Something that shows how far a phase is (the CLI draws a progress line on stderr). */
export interface ProgressSink {
  update(done: number): void;
  /** The phase is over. */
  finish(): void;
}

export interface StressTestOptions {
  schema: string;
  /** For the Backend that enqueues (it uses `pool` for its queries). */
  databaseUrl?: string;
  configPath?: string;
  count: number;
  /** Runs per bulk insert. */
  batch: number;
  queue?: string;
  /** Also wait until workers have finished the runs. */
  wait: boolean;
  /** With `wait`: give up (TIMEOUT error) after this long. */
  timeoutMs: number;
  /** Called as each phase starts, so its display measures from then. */
  progress?: (phase: "enqueued" | "finished", total: number) => ProgressSink;
}

export interface StressReport {
  count: number;
  enqueueSeconds: number;
  enqueueRate: number;
  drainSeconds?: number;
  drainRate?: number;
  /** Runs that ended FAILED, EXPIRED or CANCELLED (with wait). */
  failed?: number;
}

/** Enqueues `count` reproq.noop runs and, with `wait`, waits for workers to drain them; rates in runs/s. */
export async function runStressTest(pool: pg.Pool, options: StressTestOptions): Promise<StressReport> {
  const { count, schema } = options;
  const backend = new Backend({
    alias: "default",
    overrides: { databaseUrl: options.databaseUrl, schema },
    configPath: options.configPath,
    pool,
  });
  try {
    const enqueueing = options.progress?.("enqueued", count);
    const enqueued = await enqueueNoops(backend, {
      count,
      batch: options.batch,
      queue: options.queue,
      onProgress: (done) => enqueueing?.update(done),
    });
    enqueueing?.finish();
    const report: StressReport = {
      count,
      enqueueSeconds: round(enqueued.seconds),
      enqueueRate: rate(count, enqueued.seconds),
    };
    if (!options.wait) return report;
    const draining = options.progress?.("finished", count);
    const drained = await waitForDrain(pool, schema, enqueued, {
      timeoutMs: options.timeoutMs,
      onProgress: (done) => draining?.update(done),
    });
    draining?.finish();
    return {
      ...report,
      drainSeconds: round(drained.seconds),
      drainRate: rate(count, drained.seconds),
      failed: drained.failed,
    };
  } finally {
    await backend.close();
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function rate(count: number, seconds: number): number {
  return seconds > 0 ? Math.round(count / seconds) : count;
}
