// Task module shared by bench/runner/compare.mjs (which enqueues), the worker processes it starts
// (`reproq worker --tasks bench/adapters/reproq-tasks.mjs` and bench/runner/compare-worker.mjs) and bench/runner/worker.mjs.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { runWorker, task } from "../../dist/index.js";

// Distinct arguments per run: identical specs would be deduplicated into one active run.
export const noop = task("bench.noop", async (_i) => null);

/** Start hooks of latency probes, keyed by the probe's argument (set by the enqueuing process). */
export const started = new Map();
export const ping = task("bench.ping", async (key) => {
  started.get(key)?.(performance.now());
  return null;
});

/**
 * A worker at concurrency 10, idle, for enqueue-to-start probes of the ping task. probe(i), called
 * with i = 0, 1, 2 ... one after another, enqueues one ping and resolves once its handler has
 * started and its success was reported (so no probe queues behind another), with the times just
 * before and after enqueue() and when the handler started.
 */
export async function startPingProbe() {
  const worker = await runWorker({ config: { concurrency: 10 }, logger: false });
  // Counted rather than keyed by id: the run can finish before enqueue() has returned its id.
  let succeeded = 0;
  let onSucceeded = () => {};
  worker.on("succeeded", () => {
    succeeded++;
    onSucceeded();
  });
  // Let the worker's first claim and maintenance pass finish so they do not land in the samples.
  await sleep(500);
  return {
    async probe(i) {
      const key = `probe-${i}`;
      const start = new Promise((resolve) => started.set(key, resolve));
      const finished = new Promise((resolve) => {
        onSucceeded = () => succeeded > i && resolve();
      });
      const before = performance.now();
      await ping.enqueue(key);
      const enqueued = performance.now();
      const handlerStarted = await start;
      await finished;
      started.delete(key);
      return { before, enqueued, started: handlerStarted };
    },
    stop: () => worker.stop(),
  };
}

/**
 * Starts an in-process worker at `concurrency` on a pre-filled queue of `n` runs and times it from
 * runWorker() until `finished()` says every run is written. Counting `succeeded` events costs
 * nothing, but the event fires before the batched write, so once the count is reached the end is
 * confirmed by polling `finished` every 5 ms. Returns the time taken (ms) and this process's CPU
 * over it (% of one core). `config` adds worker settings (queues, for one).
 */
export async function timedDrain({ n, concurrency, finished, config = {} }) {
  let succeeded = 0;
  let allSeen;
  const seen = new Promise((resolve) => {
    allSeen = resolve;
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const worker = await runWorker({ config: { ...config, concurrency }, logger: false });
  worker.on("succeeded", () => {
    if (++succeeded === n) allSeen();
  });
  await seen;
  while (!(await finished())) await sleep(5);
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await worker.stop();
  return { elapsed, cpu: ((cpu.user + cpu.system) / 1000 / elapsed) * 100 };
}

/** Fails the first attempt of every tenth run, then succeeds. */
export const flaky = task(
  "bench.flaky",
  { takesContext: true, maxAttempts: 3, retry: { base: "10ms", cap: "10ms", jitter: 0 } },
  async (ctx, i) => {
    if (i % 10 === 0 && ctx.attempt === 1) throw new Error("planned first-attempt failure");
    return null;
  },
);
