/**
 * A worker's Prometheus metrics, in a registry of its own (several workers may share a process).
 * Counters and gauges are read from the worker's status snapshot at scrape time, so they always
 * equal `worker.status()`; the two histograms are fed by the worker's events. Labels stay bounded:
 * a task label is a registered task's name or "other", a queue label a queue this worker served.
 */
import client from "prom-client";
import { getTask, registeredTasks } from "../registry.js";
import type { QueueDepthRow } from "../sql/stats.js";
import type { RunCounts, WorkerStatus } from "../worker/status.js";
import type { WorkerView } from "../worker/surface.js";

/** The snake_case outcome label of each run counter. */
const OUTCOMES: ReadonlyArray<[keyof RunCounts, string]> = [
  ["claimed", "claimed"],
  ["succeeded", "succeeded"],
  ["failed", "failed"],
  ["retried", "retried"],
  ["cancelled", "cancelled"],
  ["snoozed", "snoozed"],
  ["leaseLost", "lease_lost"],
  ["expired", "expired"],
  ["reclaimed", "reclaimed"],
];

const MAX_DEPTH_QUEUES = 1000;
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const WAIT_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** A task label that cannot grow without bound: unregistered names (any string a producer sent) are "other". */
export function taskLabel(name: string): string {
  return getTask(name) ? name : "other";
}

export interface MetricsSources {
  worker: WorkerView;
  /** Queue depth rows, sampled at most every so often (null when the sample failed). */
  queueDepth: () => Promise<readonly QueueDepthRow[] | null>;
  /** Open /events streams and streams dropped for reading too slowly. */
  eventStream: () => { clients: number; dropped: number };
}

/**
 * prom-client's default process metrics (CPU, memory, heap, GC, event-loop lag), collected once per
 * process and shown by every worker's /metrics. Collecting them per worker would start an
 * event-loop delay monitor that nothing can stop, one more with every worker started.
 */
let processMetrics: client.Registry | undefined;
function processRegistry(): client.Registry {
  if (!processMetrics) {
    processMetrics = new client.Registry();
    client.collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

export class WorkerMetrics {
  readonly registry = new client.Registry();
  /** Sets the scrape-time metrics from one status snapshot. */
  #refills: Array<(status: WorkerStatus) => void> = [];
  #depth: readonly QueueDepthRow[] = [];
  /** Queues seen in a depth sample (at most MAX_DEPTH_QUEUES), reported as 0 once they drain. */
  #depthQueues = new Set<string>();
  #sources: MetricsSources;
  #attempt: client.Histogram<"queue" | "task">;
  #wait: client.Histogram<"queue">;
  #unsubscribe: () => void;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const registers = [this.registry];
    // Scrape-time metrics: each scrape resets them and sets them from the one status snapshot.
    const refilled =
      <M extends client.Counter | client.Gauge>(
        make: (config: { name: string; help: string; labelNames: string[] }) => M,
      ) =>
      (name: string, help: string, labelNames: string[], fill: (metric: M, status: WorkerStatus) => void) => {
        const metric = make({ name, help, labelNames });
        this.#refills.push((status) => {
          metric.reset();
          fill(metric, status);
        });
      };
    const counter = refilled((config) => new client.Counter({ ...config, registers }));
    const gauge = refilled((config) => new client.Gauge({ ...config, registers }));

    counter(
      "reproq_runs_total",
      "Runs by outcome and queue since the worker started.",
      ["outcome", "queue"],
      (m, s) => {
        // Served queues named exactly start at 0, so rate() has a series before the first run.
        for (const queue of s.queues)
          if (!/[*?[]/.test(queue)) for (const [, outcome] of OUTCOMES) m.inc({ outcome, queue }, 0);
        for (const [queue, counts] of Object.entries(s.counts.byQueue))
          for (const [key, outcome] of OUTCOMES) m.inc({ outcome, queue }, counts[key]);
      },
    );
    counter(
      "reproq_task_runs_total",
      'Runs by outcome and task since the worker started (unregistered task names count as "other").',
      ["outcome", "task"],
      (m, s) => {
        for (const { name } of registeredTasks())
          for (const [, outcome] of OUTCOMES) m.inc({ outcome, task: name }, 0);
        for (const [name, counts] of Object.entries(s.counts.byTask)) {
          const task = taskLabel(name);
          for (const [key, outcome] of OUTCOMES) m.inc({ outcome, task }, counts[key]);
        }
      },
    );
    counter(
      "reproq_rate_limit_waits_total",
      "Claims that found a rate limit exhausted and waited.",
      [],
      (m, s) => m.inc(s.rateLimitWaits),
    );
    counter(
      "reproq_event_loop_stalls_total",
      "Times the event loop was blocked for a second or more.",
      [],
      (m, s) => m.inc(s.eventLoopStalls.count),
    );
    counter(
      "reproq_events_dropped_clients_total",
      "/events clients dropped for reading too slowly.",
      [],
      (m) => m.inc(sources.eventStream().dropped),
    );
    gauge("reproq_runs_in_flight", "Runs executing now.", [], (m, s) => m.set(s.inFlight.length));
    gauge("reproq_runs_buffered", "Claimed runs waiting for a free slot.", [], (m, s) => m.set(s.buffered));
    gauge("reproq_settles_pending", "Outcomes computed but not yet written to the database.", [], (m, s) =>
      m.set(s.pendingSettles),
    );
    gauge("reproq_concurrency", "Runs this worker executes at once at most.", [], (m, s) =>
      m.set(s.concurrency),
    );
    gauge(
      "reproq_pool_clients",
      "Database pool clients by state (total, idle, waiting, max).",
      ["state"],
      (m, s) => {
        for (const state of ["total", "idle", "waiting", "max"] as const) m.set({ state }, s.pool[state]);
      },
    );
    gauge("reproq_worker_uptime_seconds", "Seconds since the worker started.", [], (m, s) =>
      m.set(s.uptimeMs / 1000),
    );
    gauge(
      "reproq_worker_info",
      "Always 1; labels name the worker.",
      ["worker_id", "version", "isolation"],
      (m, s) => m.set({ worker_id: s.workerId, version: s.version, isolation: s.isolation }, 1),
    );
    gauge("reproq_events_clients", "Open /events streams.", [], (m) => m.set(sources.eventStream().clients));
    gauge(
      "reproq_queue_depth",
      "READY and RUNNING runs by queue, from the database (sampled at most every metricsQueueDepthInterval).",
      ["queue", "status"],
      (m) => {
        // A queue that drained reads 0 rather than vanishing (a gauge that vanishes goes stale).
        for (const queue of this.#depthQueues)
          for (const status of ["READY", "RUNNING"]) m.set({ queue, status }, 0);
        for (const row of this.#depth) m.set({ queue: row.queue_name, status: row.status }, row.count);
      },
    );
    this.#attempt = new client.Histogram({
      name: "reproq_attempt_duration_seconds",
      help: "How long attempts ran, by queue and task.",
      labelNames: ["queue", "task"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#wait = new client.Histogram({
      name: "reproq_enqueue_to_start_seconds",
      help: "From when a run was due (its enqueue, unless delayed or retried) to the start of its attempt.",
      labelNames: ["queue"],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#unsubscribe = this.#observe(sources.worker);
  }

  #observe(worker: WorkerView): () => void {
    const ended = (run: { queue: string; taskName: string; durationMs: number }) =>
      this.#attempt.observe({ queue: run.queue, task: taskLabel(run.taskName) }, run.durationMs / 1000);
    const started = (run: { queue: string; waitedMs: number }) =>
      this.#wait.observe({ queue: run.queue }, run.waitedMs / 1000);
    worker.on("started", started);
    worker.on("succeeded", ended);
    worker.on("retrying", ended);
    worker.on("failed", ended);
    worker.on("cancelled", ended);
    return () => {
      worker.off("started", started);
      worker.off("succeeded", ended);
      worker.off("retrying", ended);
      worker.off("failed", ended);
      worker.off("cancelled", ended);
    };
  }

  /** The Prometheus text exposition: one status snapshot and (if due) one depth sample per scrape. */
  async scrape(): Promise<string> {
    this.#depth = (await this.#sources.queueDepth()) ?? this.#depth;
    for (const row of this.#depth)
      if (this.#depthQueues.size < MAX_DEPTH_QUEUES) this.#depthQueues.add(row.queue_name);
    const status = this.#sources.worker.status();
    for (const refill of this.#refills) refill(status);
    return client.Registry.merge([this.registry, processRegistry()]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#unsubscribe();
    this.registry.clear();
  }
}
