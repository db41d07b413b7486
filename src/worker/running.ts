/**
 * The attempts a worker is executing now, by run id. Shutdown waits on it going idle; a second
 * signal or the end of the grace period aborts everything in it.
 */
import type { InFlight } from "./attempt.js";
import { RunAborted } from "./control.js";

export class RunningSet {
  #runs = new Map<string, InFlight>();
  #whenIdle: Array<() => void> = [];

  get size(): number {
    return this.#runs.size;
  }

  get(resultId: string): InFlight | undefined {
    return this.#runs.get(resultId);
  }

  values(): IterableIterator<InFlight> {
    return this.#runs.values();
  }

  add(inflight: InFlight): void {
    this.#runs.set(inflight.row.result_id, inflight);
  }

  delete(inflight: InFlight): void {
    this.#runs.delete(inflight.row.result_id);
    if (this.#runs.size === 0 && this.#whenIdle.length > 0)
      for (const resolve of this.#whenIdle.splice(0)) resolve();
  }

  /** Aborts every running attempt as a shutdown (their runs are released, not failed). */
  abortAll(message: string): void {
    for (const inflight of this.#runs.values()) inflight.abort.abort(new RunAborted("shutdown", message));
  }

  /** Resolves true when nothing runs, or false after `ms`. */
  idle(ms: number): Promise<boolean> {
    if (this.#runs.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => resolve(false), Math.max(0, ms)) : null;
      this.#whenIdle.push(() => {
        if (timer) clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
