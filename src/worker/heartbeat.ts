/**
 * Heartbeats: one statement extends the leases of every run this worker holds (running,
 * buffered, or finished with its outcome not yet written) and reports which it still holds and
 * which have a cancel request. A run missing from the answer was taken back (the reaper or an
 * operator): the worker aborts it if running and drops it if buffered.
 */
import type pg from "pg";
import { type Fence, heartbeatRuns } from "../sql/worker.js";
import type { InFlight } from "./attempt.js";
import { settleRef } from "./attempt.js";
import type { Buffered } from "./claim-loop.js";

export interface HeartbeatInput {
  pool: pg.Pool;
  schema: string;
  leaseMs: number;
  /** Running now and not already known lost. */
  running: ReadonlyMap<string, InFlight>;
  buffered: readonly Buffered[];
  /** Finished runs whose outcomes wait to be written. */
  pending: readonly Fence[];
}

export interface HeartbeatAnswer {
  /** Running runs whose lease is gone. */
  lostRunning: InFlight[];
  /** Buffered runs whose lease is gone. */
  lostBuffered: Buffered[];
  /** Held runs with a cancel request. */
  cancelRequested: string[];
}

export async function heartbeat(input: HeartbeatInput): Promise<HeartbeatAnswer> {
  const fences: Fence[] = [];
  for (const inflight of input.running.values()) fences.push(settleRef(inflight.row));
  for (const entry of input.buffered) fences.push(settleRef(entry.row));
  for (const fence of input.pending) fences.push(fence);
  const held = await heartbeatRuns(input.pool, input.schema, fences, input.leaseMs);
  const heldIds = new Set(held.map((row) => row.result_id));
  return {
    lostRunning: [...input.running].filter(([id]) => !heldIds.has(id)).map(([, inflight]) => inflight),
    lostBuffered: input.buffered.filter((entry) => !heldIds.has(entry.row.result_id)),
    cancelRequested: held.filter((row) => row.cancel_requested).map((row) => row.result_id),
  };
}
