/**
 * Attributes what in-process handlers write to stdout/stderr to their run. Concurrent runs
 * share one process, so writes are routed by AsyncLocalStorage: a write made inside a run's
 * async context also goes to that run's sink. Output still reaches the real streams.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** Where a run's stdout/stderr writes go (a run's log file, a child's pipe). */
export interface OutputSink {
  write(stream: "stdout" | "stderr", chunk: string | Uint8Array): void;
}

const storage = new AsyncLocalStorage<OutputSink>();
let patched = false;

function patch(): void {
  if (patched) return;
  patched = true;
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    // Node's write has several overloads; the first argument is always the chunk.
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      storage.getStore()?.write(name, chunk);
      return original(chunk, ...rest);
    }) as typeof stream.write;
  }
}

export function runWithOutput<T>(sink: OutputSink | undefined, fn: () => Promise<T>): Promise<T> {
  if (!sink) return fn();
  patch();
  return storage.run(sink, fn);
}
