/** What a `takesContext` handler receives as its first argument (filled in by the worker). */
export interface TaskLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface TaskContext {
  /** The run's id (same as TaskResult.id). */
  resultId: string;
  /** 1 for the first attempt. */
  attempt: number;
  taskName: string;
  queue: string;
  /** Free-form run metadata; persisted by saveMetadata() and at the end of the run. */
  metadata: Record<string, unknown>;
  saveMetadata(): Promise<void>;
  /** Fires when the run times out, is cancelled, or the worker shuts down past its grace period. */
  signal: AbortSignal;
  log: TaskLogger;
}
