/** runWorker(): start a worker in this process; the returned handle has stop(). */
import { Worker, type WorkerOptions } from "./worker.js";

export type { WorkerOptions };

export function runWorker(options: WorkerOptions = {}): Promise<Worker> {
  return Worker.start(options);
}
