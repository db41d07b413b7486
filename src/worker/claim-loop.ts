/**
 * The claim loop and its prefetch buffer. It claims READY runs in batches (claim_runs(), FOR
 * UPDATE SKIP LOCKED), holds claimed runs that have no free slot yet in a small buffer sized by
 * how fast runs finish, and starts them in claim order as slots free up. It sleeps until woken:
 * by a notification, a freed slot, a retry or rate-limit token falling due, or the poll timer.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { mapDatabaseError } from "../db/pool.js";
import { isTransientConflict } from "../db/transient.js";
import { type ExpiredRun, expireRuns } from "../sql/maintenance.js";
import { type ClaimedRunRow, claimRuns, type QueueFilter } from "../sql/worker.js";
import { Deadlines } from "./deadlines.js";

/** A claimed run waiting in the buffer for a free slot. */
export interface Buffered {
  row: ClaimedRunRow;
  claimedAt: number;
}

/** The buffer holds about this much work, judged by how fast runs have been finishing. */
const PREFETCH_WINDOW_MS = 250;
/** The finish rate is measured over windows at least this long. */
const RATE_WINDOW_MS = 50;
/** A buffered run waiting longer than this goes back to the queue for any worker to take. */
export const PREFETCH_TTL_MS = 5_000;
/**
 * After a claim, the loop ends the runs of its queues whose expiry passed (the claim skips them),
 * at most this often: an expired run shows EXPIRED when a worker would have claimed it, not at
 * the next maintenance pass, and a busy worker adds at most a few index probes a second.
 */
export const EXPIRY_CHECK_MS = 200;
/**
 * A claim that found key counters held elsewhere (a settle writing them) claims again this soon,
 * doubling while it keeps finding them held (a session that sits on a counter's lock must not
 * make the worker spin), up to CONTENDED_RETRY_MAX_MS.
 */
const CONTENDED_RETRY_MS = 5;
const CONTENDED_RETRY_MAX_MS = 1000;

/** How long to wait before claiming again after `inARow` claims that found counters held. */
export function contendedRetryMs(inARow: number): number {
  return Math.min(CONTENDED_RETRY_MAX_MS, CONTENDED_RETRY_MS * 2 ** Math.min(inARow, 8));
}
/** Runs one expiry check ends at most; the next check takes the rest. */
const EXPIRY_BATCH = 500;

export interface ClaimLoopOptions {
  pool: pg.Pool;
  schema: string;
  workerId: string;
  queues: QueueFilter;
  concurrency: number;
  /** Runs to hold beyond the free slots, at most. */
  prefetch: number;
  leaseMs: number;
  log: Logger;
  /** Runs executing now (the loop claims for the free slots). */
  running(): number;
  /** Starts a run (a slot is free). */
  start(row: ClaimedRunRow): void;
  /** Hands a claimed run back to the queue unstarted. */
  release(row: ClaimedRunRow): void;
  /** Told about every batch and every rate-limit wait (counters, events). */
  onClaimed(rows: readonly ClaimedRunRow[]): void;
  onRateLimited(retryAfterMs: number): void;
  onClaimError(message: string | null): void;
  /** Told about the runs an expiry check ended. */
  onExpired(rows: readonly ExpiredRun[]): void;
}

export class ClaimLoop {
  #o: ClaimLoopOptions;
  /** Claimed runs not started yet, in claim order. */
  #buffer = new Map<string, Buffered>();
  /** Finish rate (runs/s) that sizes the buffer, and the window it is counted in. */
  #rate = 0;
  #target = 0;
  #rateSince = Date.now();
  #rateCount = 0;
  /** The last claim returned runs holding keys: keep the buffer small (see #prefetchTarget). */
  #claimedKeyed = false;
  #stopping = false;
  #pending = true;
  #wake: () => void = () => {};
  #claimErrors = 0;
  #lastClaimAt: number | null = null;
  #lastExpiryAt = 0;
  /** Claims in a row that found key counters held elsewhere. */
  #contended = 0;
  #expiring: Promise<void> | null = null;
  /**
   * When held-back work becomes claimable: retries in 10 ms buckets (thousands of retries share a
   * few timer settings), a rate limit's next token to the millisecond. Each due time is its own
   * key; when it passes, the loop claims.
   */
  #due = new Deadlines<number>(() => this.nudge());

  constructor(options: ClaimLoopOptions) {
    this.#o = options;
  }

  get buffered(): number {
    return this.#buffer.size;
  }

  get target(): number {
    return this.#target;
  }

  get lastClaimAt(): number | null {
    return this.#lastClaimAt;
  }

  /** The buffered runs, in claim order (a copy). */
  bufferedRuns(): Buffered[] {
    return [...this.#buffer.values()];
  }

  /** Takes a run out of the buffer (cancelled, or its lease was lost); returns it if it was there. */
  take(resultId: string, entry?: Buffered): Buffered | undefined {
    const found = this.#buffer.get(resultId);
    if (!found || (entry && found !== entry)) return undefined;
    this.#buffer.delete(resultId);
    return found;
  }

  /** There may be work: claim on the next turn of the loop. */
  nudge(): void {
    this.#pending = true;
    this.#wake();
  }

  /** Claim again in `ms`: a retry due before the next poll. */
  nudgeAfter(ms: number): void {
    const at = Math.ceil((Date.now() + ms) / 10) * 10;
    this.#due.add(at, at);
  }

  /**
   * Claim again at `at` (epoch ms), to the millisecond: a rate limit's next token. A token must not
   * wait for the next 10 ms bucket: at 200 runs/s with a burst of 1, a token arrives every 5 ms and
   * each claim takes one, so rounding up would halve the rate.
   */
  nudgeAt(at: number): void {
    // Already due (the claim took longer than the token's wait): claim on the next turn.
    if (at <= Date.now()) this.nudge();
    else this.#due.add(Math.round(at), Math.round(at));
  }

  /** A run finished: its slot goes to the next buffered run at once; claim if the buffer runs low. */
  finished(): void {
    this.#rateCount++;
    this.fill();
    if (this.#buffer.size <= this.#target / 2) this.#wake();
  }

  /** Starts buffered runs, in claim order, while slots are free. */
  fill(): void {
    if (this.#stopping) return;
    for (const [id, { row }] of this.#buffer) {
      if (this.#o.running() >= this.#o.concurrency) return;
      this.#buffer.delete(id);
      this.#o.start(row);
    }
  }

  /** Buffered runs that waited past PREFETCH_TTL_MS (their tasks slowed down): back to the queue. */
  releaseStale(now = Date.now()): void {
    const cutoff = now - PREFETCH_TTL_MS;
    for (const [id, { row, claimedAt }] of this.#buffer) {
      if (claimedAt > cutoff) break;
      this.#buffer.delete(id);
      this.#o.release(row);
    }
  }

  /** Stops claiming; run() then hands buffered runs back and resolves. */
  stop(): void {
    this.#stopping = true;
    this.#due.clear();
    this.#wake();
  }

  /**
   * How many runs to hold claimed beyond the free slots: about PREFETCH_WINDOW_MS of work at
   * the current finish rate, at most `prefetch`. Slow tasks get (almost) no buffer, so a worker
   * never sits on runs that another worker could start sooner.
   */
  #prefetchTarget(): number {
    const max = this.#o.prefetch;
    if (max === 0) return 0;
    const now = Date.now();
    const elapsed = now - this.#rateSince;
    if (elapsed >= RATE_WINDOW_MS) {
      const measured = (this.#rateCount * 1000) / elapsed;
      // Smooth short windows; a long quiet spell replaces the rate outright.
      this.#rate = elapsed > 1000 ? measured : (this.#rate + measured) / 2;
      this.#rateSince = now;
      this.#rateCount = 0;
    }
    // Runs holding keys cost more per batch: each claim and settle locks their key counters, and
    // large batches of them make claims and settles queue behind each other's locks (1,000 keys:
    // 5,000/s with 1,000-run batches, against 8,700/s with batches near the concurrency). A key's
    // slot is also held while its run waits in the buffer. So keyed work prefetches at most one
    // concurrency's worth.
    const cap = this.#claimedKeyed ? Math.min(max, this.#o.concurrency) : max;
    this.#target = Math.min(cap, Math.floor((this.#rate * PREFETCH_WINDOW_MS) / 1000));
    return this.#target;
  }

  /** Claims until stop(); resolves after handing back what is still buffered. */
  async run(): Promise<void> {
    const o = this.#o;
    while (!this.#stopping) {
      this.fill();
      const free = o.concurrency - o.running();
      const target = this.#prefetchTarget();
      const room = free + target - this.#buffer.size;
      // Claim when slots are free and nothing is buffered, or when the buffer ran below half its
      // target: the next batch arrives while the buffered runs still keep every slot busy.
      const low = this.#buffer.size === 0 ? free > 0 : this.#buffer.size <= target / 2;
      if (this.#pending && room > 0 && low) {
        this.#pending = false;
        const rows = await this.#claim(room);
        if (rows === null) continue;
        if (this.#stopping) {
          // Claimed while stopping: hand them straight back.
          for (const row of rows) o.release(row);
          break;
        }
        const claimedAt = Date.now();
        if (rows.length > 0) {
          this.#claimedKeyed = rows.some((row) => row.keyed);
          for (const row of rows) this.#buffer.set(row.result_id, { row, claimedAt });
          o.onClaimed(rows);
        }
        if (rows.length === room) this.#pending = true;
        continue;
      }
      await this.#sleep(Number.POSITIVE_INFINITY);
    }
    // Runs claimed but not started go back to the queue at once.
    for (const { row } of this.#buffer.values()) o.release(row);
    this.#buffer.clear();
    await this.#expiring;
  }

  /** One claim of up to `room` runs; null when it failed (after backing off) and the loop should go round. */
  async #claim(room: number): Promise<ClaimedRunRow[] | null> {
    const o = this.#o;
    try {
      const sentAt = Date.now();
      const claimed = await claimRuns(o.pool, o.schema, {
        workerId: o.workerId,
        limit: room,
        leaseMs: o.leaseMs,
        queues: o.queues,
      });
      this.#lastClaimAt = Date.now();
      this.#expireDue();
      // The next token's due time counts from the bucket's refill inside the claim, which is
      // closer to when the claim was sent than to when its answer arrived: timing from the
      // answer would add a round trip to every token's wait (with burst 1, lost for good).
      if (claimed.retryAfterMs !== null) {
        this.nudgeAt(sentAt + claimed.retryAfterMs);
        o.onRateLimited(claimed.retryAfterMs);
      }
      // Runs were left out because another transaction held their key counters for a moment.
      if (claimed.contended) {
        this.nudgeAfter(
          Math.min(CONTENDED_RETRY_MAX_MS, CONTENDED_RETRY_MS * 2 ** Math.min(this.#contended, 8)),
        );
        this.#contended++;
      } else {
        this.#contended = 0;
      }
      if (this.#claimErrors > 0) o.onClaimError(null);
      this.#claimErrors = 0;
      return claimed.runs;
    } catch (error) {
      this.#pending = true;
      // A deadlock with another worker's completion: PostgreSQL rolled one back; just try again.
      if (isTransientConflict(error)) return null;
      this.#claimErrors++;
      const delay = Math.min(5000, 100 * 2 ** Math.min(this.#claimErrors, 6));
      const message = (mapDatabaseError(error, o.schema) as Error).message;
      o.log.warn({ err: message, retryMs: delay }, "claim failed; retrying");
      o.onClaimError(message);
      await this.#sleep(delay);
      return null;
    }
  }

  /**
   * Ends the served queues' runs whose expiry passed, in the background (claimed runs start
   * without waiting for it), one check at a time and at most every EXPIRY_CHECK_MS. A failure
   * only logs: maintenance expires the same runs later.
   */
  #expireDue(): void {
    const now = Date.now();
    if (this.#expiring || now - this.#lastExpiryAt < EXPIRY_CHECK_MS) return;
    this.#lastExpiryAt = now;
    const o = this.#o;
    this.#expiring = expireRuns(o.pool, o.schema, EXPIRY_BATCH, { queues: o.queues })
      .then((rows) => {
        if (rows.length > 0) o.onExpired(rows);
        // A full batch: more are waiting; the next claim's check takes them without delay.
        if (rows.length === EXPIRY_BATCH) this.#lastExpiryAt = 0;
      })
      .catch((error: unknown) => {
        o.log.warn({ err: (mapDatabaseError(error, o.schema) as Error).message }, "expiry check failed");
      })
      .finally(() => {
        this.#expiring = null;
      });
  }

  /** Sleeps until woken (claimable work, a freed slot, stop) or `ms` passed. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : null;
      this.#wake = () => {
        if (timer) clearTimeout(timer);
        this.#wake = () => {};
        resolve();
      };
    });
  }
}
