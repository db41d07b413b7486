/** Starting workers in tests: quiet, fast polling, stopped after each test. */
import { afterEach } from "vitest";
import { Worker, type WorkerOptions } from "../../src/worker/worker.js";

const started: Worker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.stop({ timeout: 0 })));
});

export async function startWorker(
  config: WorkerOptions["config"] = {},
  options: Omit<WorkerOptions, "config"> = {},
): Promise<Worker> {
  const worker = await Worker.start({
    logger: false,
    ...options,
    config: {
      pollInterval: 500,
      heartbeatInterval: 500,
      leaseDuration: 5000,
      maintenanceInterval: 60_000,
      ...config,
    },
  });
  started.push(worker);
  return worker;
}
