// Task module shared by bench/compare.mjs (which enqueues) and the worker processes it starts
// (`reproq worker --tasks bench/noop-tasks.mjs` and bench/compare-worker.mjs).
import { performance } from "node:perf_hooks";
import { task } from "../dist/index.js";

// Distinct arguments per run: identical specs would be deduplicated into one active run.
export const noop = task("bench.noop", async (_i) => null);

/** Start hooks of latency probes, keyed by the probe's argument (set by the enqueuing process). */
export const started = new Map();
export const ping = task("bench.ping", async (key) => {
  started.get(key)?.(performance.now());
  return null;
});

/** Fails the first attempt of every tenth run, then succeeds. */
export const flaky = task(
  "bench.flaky",
  { takesContext: true, maxAttempts: 3, retry: { base: "10ms", cap: "10ms", jitter: 0 } },
  async (ctx, i) => {
    if (i % 10 === 0 && ctx.attempt === 1) throw new Error("planned first-attempt failure");
    return null;
  },
);
