/**
 * The thread-isolation child (started by thread-executor.ts as a worker thread). Like the
 * process child it imports the task modules once and runs one task at a time for the worker
 * (child-runtime.ts), over the thread's message port. The worker terminates the thread on a
 * timeout, cancel, shutdown or lost lease, which stops even a handler that never yields.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ChildInit, ParentMessage } from "./child-protocol.js";
import { captureOutput, crash, onMessage, startUp, useTransport } from "./child-runtime.js";

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) {
    console.error("reproq thread: this script is started by the worker with --isolation thread");
    process.exit(2);
  }
  useTransport({
    name: "thread",
    send: (message) => {
      port.postMessage(message);
      return Promise.resolve();
    },
    exit: (code) => process.exit(code),
    // A thread shares the process's RSS; its own heap is what it can be retired for.
    memory: () => process.memoryUsage().heapUsed,
  });
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  port.on("message", (message: ParentMessage) => onMessage(message));
  captureOutput();

  await startUp(workerData as ChildInit);
}

void main();
