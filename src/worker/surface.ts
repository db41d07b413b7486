/**
 * Surfaces attached to a worker (its HTTP endpoints, for one): started after the worker, closed
 * after it stopped. The worker knows them only through this interface, so the rooms that build
 * them (http/) import the worker and never the reverse.
 */
import type pg from "pg";
import type { Logger } from "pino";
import type { ReproqConfig } from "../config/schema.js";
import type { RunFeed } from "../db/run-feed.js";
import type { WorkerEvents } from "./events.js";
import type { WorkerStatus } from "./status.js";

/** The public face of a worker that a surface reads: its snapshot, its events and its run feed. */
export interface WorkerView {
  readonly id: string;
  readonly feed: RunFeed;
  status(): WorkerStatus;
  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): unknown;
  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): unknown;
}

export interface SurfaceContext {
  worker: WorkerView;
  /** The worker's resolved configuration. */
  config: ReproqConfig;
  log: Logger;
  /** The worker's pool (closed once the worker stopped, before the surface is closed). */
  pool: pg.Pool;
}

export interface AttachedSurface {
  /** Called once the worker has stopped. */
  close(): Promise<void>;
}

/** Starts a surface for a started worker; null when its configuration leaves it off. */
export type WorkerSurface = (context: SurfaceContext) => Promise<AttachedSurface | null>;
