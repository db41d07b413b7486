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
