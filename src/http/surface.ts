/**
 * The worker's observability surface: the HTTP endpoints when `metricsAddr` is set, and a
 * periodic memory log line when `memoryLogInterval` is. runWorker() and the CLI attach it to
 * every worker; with Worker.start, pass it in `surfaces`.
 */
import type { AttachedSurface, SurfaceContext, WorkerSurface } from "../worker/surface.js";
import { startWorkerHttp } from "./worker-server.js";

export const workerHttp: WorkerSurface = async (context: SurfaceContext): Promise<AttachedSurface | null> => {
  const { config, log } = context;
  const parts: AttachedSurface[] = [];
  if (config.memoryLogInterval > 0) parts.push(logMemory(context));
  if (config.metricsAddr) {
    try {
      parts.push(await startWorkerHttp(context));
    } catch (error) {
      for (const part of parts) await part.close();
      throw error;
    }
  }
  if (parts.length === 0) return null;
  log.debug({ parts: parts.length }, "worker surface attached");
  return {
    async close() {
      for (const part of parts) await part.close();
    },
  };
};

function logMemory({ config, log }: SurfaceContext): AttachedSurface {
  const mb = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    log.info(
      {
        rssMb: mb(memory.rss),
        heapUsedMb: mb(memory.heapUsed),
        heapTotalMb: mb(memory.heapTotal),
        externalMb: mb(memory.external),
      },
      "memory",
    );
  }, config.memoryLogInterval);
  timer.unref();
  return { close: async () => clearInterval(timer) };
}
