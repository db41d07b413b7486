// A worker process for bench/runner/compare.mjs: opens one system's database, waits for "go", runs that
// system's worker until `expect` jobs are finished in the database (or `capMs` has passed), and
// reports the time. It says "started" once the worker runs, so the parent can start enqueuing then
// (the end-to-end rows); the parent reads this process's VmRSS before sending "stop".
//
//   node bench/runner/compare-worker.mjs <system> <databaseUrl> <concurrency> <variant> <expect> <capMs>
import { performance } from "node:perf_hooks";
import { openSystem } from "../adapters/index.mjs";
import { sleep } from "./lib.mjs";

const [system, databaseUrl, concurrencyArg, variant, expectArg, capArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const expect = Number(expectArg);
const capMs = Number(capArg);

const adapter = await openSystem(system, databaseUrl);
let worker;

process.on("message", async (message) => {
  if (message === "go") {
    try {
      process.send({ type: "result", ...(await drain()) });
    } catch (error) {
      process.send({ type: "error", message: String(error?.stack ?? error) });
    }
  } else if (message === "stop") {
    await worker?.stop();
    await adapter.close();
    process.disconnect();
    process.exit(0);
  }
});
process.send({ type: "ready" });

async function drain() {
  let seen = 0;
  let allSeen;
  const everything = new Promise((resolve) => {
    allSeen = resolve;
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  worker = await adapter.startWorker({
    concurrency,
    variant,
    onDone: (n) => {
      seen += n;
      if (seen >= expect) allSeen();
    },
  });
  process.send({ type: "started" });
  let capped = false;
  const timer = setTimeout(() => {
    capped = true;
    allSeen();
  }, capMs);
  await everything;
  clearTimeout(timer);
  let pending;
  // Handlers have returned; wait until their completions are written (not past the cap).
  for (;;) {
    pending = await adapter.pending();
    if (pending === 0 || capped) break;
    await sleep(5);
    if (performance.now() - t0 > capMs) capped = true;
  }
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    elapsed,
    done: expect - pending,
    capped: pending > 0,
    cpu: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
  };
}
