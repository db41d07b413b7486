/**
 * Notices when the worker's event loop was blocked: a timer that should fire every TICK_MS
 * measures how late it fired. A handler that computes synchronously in the in-process executor
 * blocks the loop, and with it heartbeats, timeouts and every other run; the watch reports how
 * long, and which runs were executing, so the culprit can be moved to a thread or a process.
 */
const TICK_MS = 100;

/** A stall at least this long is reported. */
export const STALL_REPORT_MS = 1000;

export interface Stall {
  /** How long the loop was blocked, about. */
  blockedMs: number;
  /** When it was noticed (epoch ms). */
  at: number;
}

export class StallWatch {
  #timer: NodeJS.Timeout;
  #last = performance.now();
  count = 0;
  last: Stall | null = null;

  constructor(onStall: (stall: Stall) => void, reportMs = STALL_REPORT_MS) {
    this.#timer = setInterval(() => {
      const now = performance.now();
      const blockedMs = Math.round(now - this.#last - TICK_MS);
      this.#last = now;
      if (blockedMs < reportMs) return;
      this.count++;
      this.last = { blockedMs, at: Date.now() };
      onStall(this.last);
    }, TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
