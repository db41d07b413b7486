/**
 * A worker's graceful stop, in order: stop claiming and hand buffered runs back; let running
 * attempts finish within the grace period, then abort the rest (released, not failed); write
 * every outcome still queued; unsubscribe, unregister, close the executor and the connection.
 */
import type { Logger } from "pino";
import type { Connection } from "../db/connect.js";
import type { ClaimLoop } from "./claim-loop.js";
import type { Executor } from "./executor.js";
import type { RunningSet } from "./running.js";
import type { Settler } from "./settler.js";

/** How long the settler gets to write the last outcomes before their leases are left to expire. */
const FINAL_SETTLE_MS = 30_000;

export interface ShutdownParts {
  claims: ClaimLoop;
  /** The claim loop's promise (resolves once it handed back what it buffered). */
  loop: Promise<void> | null;
  running: RunningSet;
  /** Run timeouts and claim-again times. */
  deadlines: { clear(): void };
  timers: readonly NodeJS.Timeout[];
  settler: Settler;
  /** Unsubscribes and removes signal handlers. */
  cleanups: ReadonlyArray<() => void>;
  /** Removes the worker's row; failures are ignored (stale rows are pruned). */
  unregister: () => Promise<void>;
  executor: Executor;
  connection: Connection;
  log: Logger;
}

export async function shutDown(parts: ShutdownParts, graceMs: number): Promise<void> {
  const { running, log } = parts;
  parts.claims.stop();
  await parts.loop;
  if (!(await running.idle(graceMs))) {
    log.warn({ running: running.size }, "grace period over: aborting and releasing running tasks");
    running.abortAll("the worker shut down before the run finished");
    await running.idle(Number.POSITIVE_INFINITY);
  }
  for (const timer of parts.timers) clearInterval(timer);
  parts.deadlines.clear();
  if (!(await parts.settler.drain(FINAL_SETTLE_MS)))
    log.error({ pending: parts.settler.size }, "could not write every outcome; those leases will expire");
  for (const cleanup of parts.cleanups) cleanup();
  await parts.unregister().catch(() => {});
  await parts.executor.close();
  await parts.connection.close();
  log.info("worker stopped");
}
