/**
 * The signals that stop a worker (SIGTERM, SIGINT). Returns the function that removes the
 * handler again, so a stopped worker leaves the process as it found it.
 */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

export function onStopSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  const installed = STOP_SIGNALS.map((signal) => {
    const listener = () => handler(signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of installed) process.off(signal, listener);
  };
}

/**
 * Calls `handler` once when this process's parent is gone (the process was re-parented). A
 * worker started through a wrapper (`npx reproq worker`, a shell) is a grandchild of the
 * supervisor: when the supervisor signals the wrapper and the wrapper dies without passing the
 * signal on, the worker would otherwise keep claiming forever, adopted by PID 1. Not armed when
 * the parent already is PID 1 (a container's entry point, systemd's direct child).
 */
export function onParentExit(handler: (formerParent: number) => void, everyMs = 1000): () => void {
  const parent = process.ppid;
  if (parent <= 1 || process.platform === "win32") return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    handler(parent);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
