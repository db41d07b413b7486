/** The public API of reproq. */
// Registers the built-in tasks (reproq.noop) in every process that loads the library.
import "./builtins.js";

export { Backend, type BulkEnqueueOptions, type BulkItem, type CheckedBulkItems } from "./backend.js";
export { buildSpec, type RunSpec, specHash } from "./codec/spec.js";
export { type Codec, type JsonValue, registerCodec, unregisterCodec } from "./codec/tagged.js";
export { defineConfig } from "./config/define.js";
export { type ConfigSource, explainConfig, loadConfig, type ResolvedConfig } from "./config/load.js";
export type { ReproqConfig, ReproqConfigInput } from "./config/schema.js";
export type { TaskContext, TaskLogger } from "./context.js";
export { type FeedEvent, type FeedEventOf, type FeedEventType, RunFeed } from "./db/run-feed.js";
export { type Duration, parseDuration } from "./duration.js";
export {
  ConfigError,
  ConflictError,
  ConnectionError,
  InvalidInputError,
  PayloadError,
  ReproqError,
  type ReproqErrorCode,
  ResultUnavailableError,
  ScheduleNotFoundError,
  SchemaError,
  TaskResultNotFoundError,
  UsageError,
  WaitTimeoutError,
} from "./errors.js";
export {
  createManagerHandler,
  type ManagerHandler,
  type ManagerHandlerOptions,
  type ManagerRequest,
  type Scope,
} from "./http/manager.js";
export { workerHttp } from "./http/surface.js";
export { type IssuedToken, issueToken, tokenKeys, verifyToken } from "./http/tokens.js";
export type { RunIdInput } from "./ids.js";
export { type CancelOutcome, cancel } from "./ops/cancel.js";
export {
  deleteRateLimit,
  listQueueControls,
  listRateLimits,
  pauseQueue,
  type QueueControl,
  type RateLimit,
  type RateLimitInput,
  resumeQueue,
  setRateLimit,
} from "./ops/flow.js";
export type { ManagerStats } from "./ops/manager-stats.js";
export { replay } from "./ops/replay.js";
export {
  type QueueStats,
  type SchedulerMode,
  type Stats,
  type StatusCounts,
  stats,
  type WorkerStats,
} from "./ops/stats.js";
export { type RetryOutcome, type RetrySelector, retry } from "./ops/triage.js";
export {
  cancelWorkflow,
  cancelWorkflowIn,
  getWorkflow,
  loadWorkflow,
  type Workflow,
  type WorkflowCancelOutcome,
  type WorkflowKind,
  type WorkflowStatus,
} from "./ops/workflows.js";
export { getTask, registeredTasks } from "./registry.js";
export { type TaskErrorRecord, TaskResult, type WaitOptions } from "./result.js";
export { runWorker, type WorkerOptions } from "./run-worker.js";
export { type ConfigureOptions, close, configure, getBackend, getResult, migrate } from "./runtime.js";
export { type RecurringOptions, recurring, type SyncResult, syncRecurring } from "./scheduler/recurring.js";
export {
  type CatchUpPolicy,
  deleteSchedule,
  listSchedules,
  runScheduleNow,
  type Schedule,
  type ScheduleInput,
  upsertSchedule,
} from "./scheduler/schedules.js";
export type { MigrateResult, MigrationStatus } from "./sql/migrate.js";
export { ACTIVE_STATUSES, FINAL_STATUSES, TASK_STATUSES, type TaskStatus } from "./status.js";
export {
  type ConcurrencyOption,
  type ConfiguredTask,
  type EnqueueOptions,
  type TaskDefinition,
  type TaskOptions,
  task,
} from "./task.js";
export { PACKAGE_VERSION as VERSION } from "./version.js";
export { NonRetryableError, snooze } from "./worker/control.js";
export type { ExecutionRequest, ExecutionResult, Executor } from "./worker/executor.js";
export {
  type AttachedSurface,
  type ErrorRecord,
  type InFlightRun,
  type MaintainedRun,
  type RunCounts,
  type RunEvent,
  type SurfaceContext,
  Worker,
  type WorkerEvents,
  type WorkerState,
  type WorkerStatus,
  type WorkerSurface,
  type WorkerView,
} from "./worker/worker.js";
export {
  type Chain,
  type CheckedChain,
  type CheckedSteps,
  type Chord,
  type ChordResults,
  chain,
  chord,
  type Group,
  group,
  type PipedArgs,
  type PipedStep,
  type PipedStepOptions,
  type Step,
  type StepOptions,
  type WorkflowEnqueueOptions,
} from "./workflows.js";
