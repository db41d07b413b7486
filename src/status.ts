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
