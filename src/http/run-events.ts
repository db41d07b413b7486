/**
 * What /events streams: this worker's run lifecycle and state changes (its typed events) and the
 * database's notifications (runs enqueued, runs finished by any worker), as small JSON objects.
 * Return values and stacks stay out: the stream is for watching, the run row has the details.
 */
import type { ErrorRecord, MaintainedRun, RunEvent, WorkerEvents } from "../worker/events.js";
import type { WorkerView } from "../worker/surface.js";
import type { EventStream } from "./event-stream.js";

const run = (event: RunEvent) => ({
  id: event.id,
  task: event.taskName,
  queue: event.queue,
  attempt: event.attempt,
  maxAttempts: event.maxAttempts,
  workerId: event.workerId,
});
const error = (record: ErrorRecord) => ({ kind: record.kind, class: record.class, message: record.message });
const maintained = (event: MaintainedRun) => ({
  id: event.id,
  task: event.taskName,
  queue: event.queue,
  status: event.status,
});

/** Publishes the worker's events and run feed on `stream`; resolves once LISTEN is in effect. */
export async function publishWorkerEvents(worker: WorkerView, stream: EventStream): Promise<() => void> {
  const at = () => new Date().toISOString();
  const out = (type: string, data: object) => stream.publish(type, { ...data, at: at() });
  const offs: Array<() => void> = [];
  const on = <E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void) => {
    worker.on(event, listener);
    offs.push(() => worker.off(event, listener));
  };
  on("started", (e) => out("started", { ...run(e), waitedMs: e.waitedMs }));
  on("succeeded", (e) => out("succeeded", { ...run(e), durationMs: e.durationMs }));
  on("retrying", (e) =>
    out("retried", { ...run(e), durationMs: e.durationMs, delayMs: e.delayMs, error: error(e.error) }),
  );
  on("failed", (e) => out("failed", { ...run(e), durationMs: e.durationMs, error: error(e.error) }));
  on("cancelled", (e) => out("cancelled", { ...run(e), durationMs: e.durationMs }));
  on("snoozed", (e) => out("snoozed", { ...run(e), delayMs: e.delayMs }));
  on("lease-lost", (e) => out("lease-lost", run(e)));
  on("expired", (e) => out("expired", maintained(e)));
  on("reclaimed", (e) => out("reclaimed", maintained(e)));
  on("state", (e) => out("state", { workerId: e.workerId, state: e.state }));
  const unfeed = await worker.feed.subscribe(["enqueued", "finished"], (event) => {
    if (event.type === "enqueued") out("enqueued", { queues: event.queues });
    else out("finished", { id: event.id, status: event.status });
  });
  return () => {
    unfeed();
    for (const off of offs.splice(0)) off();
  };
}
