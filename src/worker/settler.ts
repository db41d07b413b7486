/**
 * Writes attempt outcomes in batches: everything settled while the previous write was in
 * flight goes out in one settle_runs() call, successes and failures alike.
 * When the database is unreachable the records are kept and retried with backoff, so
 * results computed while the connection was down are written once it returns.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { mapDatabaseError } from "../db/pool.js";
import { isTransientConflict } from "../db/transient.js";
import { ConnectionError } from "../errors.js";
import { type Fence, type SettleRecord, settleRuns } from "../sql/worker.js";

const BATCH = 1000;

export class Settler {
  #pool: pg.Pool;
  #schema: string;
  #log: Logger;
  #pending: SettleRecord[] = [];
  #running: Promise<void> | null = null;
  #retryMs = 0;
  #onWritten: (record: SettleRecord, held: boolean) => void;

  constructor(
    pool: pg.Pool,
    schema: string,
    log: Logger,
    onWritten: (record: SettleRecord, held: boolean) => void,
  ) {
    this.#pool = pool;
    this.#schema = schema;
    this.#log = log;
    this.#onWritten = onWritten;
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Runs whose outcome is not written yet: their leases must keep being renewed. */
  pendingFences(): Fence[] {
    return this.#pending.map(({ resultId, leaseToken }) => ({ resultId, leaseToken }));
  }

  settle(record: SettleRecord): void {
    this.#pending.push(record);
    this.#kick();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drainLoop());
  }

  async #drainLoop(): Promise<void> {
    try {
      while (this.size > 0) {
        try {
          await this.#writeOnce();
          this.#retryMs = 0;
        } catch (error) {
          const mapped = mapDatabaseError(error, this.#schema);
          if (isTransientConflict(error)) continue;
          if (!(mapped instanceof ConnectionError)) {
            // Not a connection problem: retrying the same write would fail the same way.
            this.#log.error(
              { err: error },
              "could not record run outcomes; they are dropped and the leases will expire",
            );
            this.#pending = [];
            return;
          }
          this.#retryMs = Math.min(5000, Math.max(100, this.#retryMs * 2));
          this.#log.warn(
            { err: mapped.message, retryMs: this.#retryMs, pending: this.size },
            "database unreachable; keeping results and retrying",
          );
          await new Promise((r) => setTimeout(r, this.#retryMs));
        }
      }
    } finally {
      this.#running = null;
      if (this.size > 0) this.#kick();
    }
  }

  async #writeOnce(): Promise<void> {
    const batch = this.#pending.slice(0, BATCH);
    const held = await settleRuns(this.#pool, this.#schema, batch);
    this.#pending.splice(0, batch.length);
    for (const record of batch) this.#onWritten(record, held.has(record.resultId));
  }

  /** Resolves when everything queued so far is written (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.size > 0 || this.#running) {
      if (Date.now() > deadline) return false;
      if (this.#running) await Promise.race([this.#running, new Promise((r) => setTimeout(r, 100))]);
      else this.#kick();
    }
    return true;
  }
}
