/**
 * Tasks that ship with Reproq. `reproq.noop` exists for `reproq stress-test`: it does nothing
 * (or sleeps), so a stress test measures the queue rather than the work. Importing the library
 * registers these, so any worker whose task modules import reproq can run them.
 */
import { task } from "./task.js";

export const NOOP_TASK_NAME = "reproq.noop";

/** Returns `n`; sleeps `sleepMs` first when given. Distinct `n` values keep runs from deduplicating. */
export const noop = task(NOOP_TASK_NAME, async (n: number, sleepMs?: number) => {
  if (sleepMs !== undefined && sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
  return n;
});

/** Names of built-in tasks, which tools such as `reproq allowlist` leave out of the user's tasks. */
export const BUILTIN_TASK_NAMES: ReadonlySet<string> = new Set([NOOP_TASK_NAME]);

export function isBuiltinTask(name: string): boolean {
  return BUILTIN_TASK_NAMES.has(name);
}
