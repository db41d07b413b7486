// The latency probe loop the adapters share.
import { performance } from "node:perf_hooks";

/** Runs up to `samples` sequential probes, stopping early once `budgetMs` has passed. */
export async function probeLoop(samples, budgetMs, one) {
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < samples; i++) {
    times.push(await one(i));
    if (performance.now() - t0 > budgetMs) break;
  }
  return times;
}
