/**
 * Deadlines on one timer, armed for the earliest of them. When it fires, every item past its
 * deadline expires and the timer is armed for the next one. The worker keeps its run timeouts
 * here (it starts thousands of runs a second and nearly all finish long before their timeout, so
 * a timer per run would be made and cleared for each) and the times it must claim again at.
 */
export class Deadlines<T> {
  #at = new Map<T, number>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #onExpired: (item: T) => void;

  constructor(onExpired: (item: T) => void) {
    this.#onExpired = onExpired;
  }

  /** `item` expires at `at` (epoch ms) unless deleted before. */
  add(item: T, at: number): void {
    this.#at.set(item, at);
    if (at < this.#timerAt) this.#arm(at);
  }

  delete(item: T): void {
    this.#at.delete(item);
    // Nothing left to time: the timer must not keep the process alive. Otherwise it stays armed
    // and, if its run is gone when it fires, it re-arms for the next deadline.
    if (this.#at.size === 0) this.clear();
  }

  clear(): void {
    this.#at.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: T[] = [];
    for (const [item, at] of this.#at) {
      if (at <= now) expired.push(item);
      else if (at < next) next = at;
    }
    for (const item of expired) this.#at.delete(item);
    if (Number.isFinite(next)) this.#arm(next);
    for (const item of expired) this.#onExpired(item);
  }
}
