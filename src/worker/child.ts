/**
 * The process-isolation child (forked by process-executor.ts). It imports the worker's task
 * modules once, then runs one task at a time for the parent over IPC (child-runtime.ts). The
 * parent owns its lifetime: the child exits when told to retire, when the parent goes away,
 * after an uncaught error (the parent forks a replacement), or by SIGKILL on timeout/cancel.
 */
import { Worker as Thread } from "node:worker_threads";
import type { ChildInit } from "./child-protocol.js";
import { captureOutput, crash, onMessage, startUp, useTransport } from "./child-runtime.js";

useTransport({
  name: "child",
  send: (message) =>
    new Promise((resolve) => {
      if (!process.send || !process.connected) return resolve();
      process.send(message, undefined, undefined, () => resolve());
    }),
  exit: (code) => process.exit(code),
  memory: () => process.memoryUsage.rss(),
});

/**
 * A handler that blocks the event loop never sees "disconnect", so a thread of its own checks
 * that the parent is still there and kills this process (and its group) once it is not.
 */
const WATCHDOG = `
const { workerData } = require("node:worker_threads");
setInterval(() => {
  if (process.ppid === workerData.parent) return;
  try { process.kill(-workerData.self, "SIGKILL"); } catch {}
  process.kill(workerData.self, "SIGKILL");
}, 1000);
`;

function watchParent(): void {
  const watchdog = new Thread(WATCHDOG, {
    eval: true,
    workerData: { parent: process.ppid, self: process.pid },
  });
  watchdog.unref();
}

async function main(): Promise<void> {
  if (!process.send) {
    console.error("reproq child: this script is started by the worker with --isolation process");
    process.exit(2);
  }
  // The parent decides when children stop; a terminal's Ctrl-C or a service manager's SIGTERM
  // reaches the parent, which finishes or aborts runs itself and then kills its children.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => {});
  // Never outlive the parent; take what the handler spawned along (we lead our process group on POSIX).
  process.on("disconnect", () => {
    if (process.platform !== "win32") {
      try {
        process.kill(-process.pid, "SIGKILL");
      } catch {
        // Not a group leader: only this process exits.
      }
    }
    process.exit(1);
  });
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  process.on("message", onMessage);
  watchParent();
  captureOutput();

  await startUp(JSON.parse(process.argv[2] ?? "{}") as ChildInit);
}

void main();
