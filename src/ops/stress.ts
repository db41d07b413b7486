/**
 * The work behind `reproq stress-test`: bulk-enqueue N distinct reproq.noop runs and optionally
 * wait until workers have finished them, timing both.
 */
import type { Backend, BulkItem } from "../backend.js";
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
