/**
 * runWorker(): start a worker in this process with its observability surface attached (the HTTP
 * endpoints when `metricsAddr` is set, the memory log when `memoryLogInterval` is); the returned
 * handle has stop(), which closes them too.
 */
import { workerHttp } from "./http/surface.js";
import { Worker, type WorkerOptions } from "./worker/worker.js";

export type { WorkerOptions };

export function runWorker(options: WorkerOptions = {}): Promise<Worker> {
  const others = (options.surfaces ?? []).filter((surface) => surface !== workerHttp);
  return Worker.start({ ...options, surfaces: [workerHttp, ...others] });
}
