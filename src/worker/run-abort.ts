/**
 * A run's abort state (timeout, cancel, lease loss, shutdown). Most handlers never look at an
 * AbortSignal, and a worker starts thousands of runs a second, so the AbortController behind
 * `signal` is only made when something asks for the signal; the executor is told through one
 * plain callback instead of an event listener.
 */
export class RunAbort {
  #reason: unknown = undefined;
  #aborted = false;
  #controller: AbortController | null = null;
  #listener: ((reason: unknown) => void) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why the run was aborted (a RunAborted), or undefined while it was not. */
  get reason(): unknown {
    return this.#reason;
  }

  /** An AbortSignal that fires with the same reason; made on first use. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Calls `listener` once when the run is aborted: at once if it already was. One listener. */
  onAbort(listener: (reason: unknown) => void): void {
    if (this.#aborted) listener(this.#reason);
    else this.#listener = listener;
  }

  /** Aborts with `reason`; later calls keep the first reason, as AbortController does. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const listener = this.#listener;
    this.#listener = null;
    listener?.(reason);
  }
}
