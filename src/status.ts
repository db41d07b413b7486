import { InvalidInputError } from "./errors.js";

/** Run statuses. The CHECK constraint on task_runs.status lists exactly these (see sql/migrations). */
export const TASK_STATUSES = [
  "READY",
  "RUNNING",
  "WAITING",
  "SUCCESSFUL",
  "FAILED",
  "CANCELLED",
  "EXPIRED",
] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses a run never leaves on its own. */
export const FINAL_STATUSES: readonly TaskStatus[] = ["SUCCESSFUL", "FAILED", "CANCELLED", "EXPIRED"];

/** Statuses in which an equal spec is deduplicated into the existing run. */
export const ACTIVE_STATUSES: readonly TaskStatus[] = ["READY", "RUNNING", "WAITING"];

export function isFinalStatus(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/**
 * Upper-cased, de-duplicated statuses in the order given; InvalidInputError names an unknown one
 * and lists the valid ones. An empty list is returned as is.
 */
export function parseStatuses(statuses: readonly string[]): TaskStatus[] {
  const out: TaskStatus[] = [];
  for (const raw of statuses) {
    const status = raw.trim().toUpperCase();
    if (!(TASK_STATUSES as readonly string[]).includes(status)) {
      throw new InvalidInputError(`unknown status "${raw.trim()}"; give any of ${TASK_STATUSES.join(", ")}`);
    }
    if (!out.includes(status as TaskStatus)) out.push(status as TaskStatus);
  }
  return out;
}
