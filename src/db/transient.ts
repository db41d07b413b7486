/** Errors PostgreSQL raises when it rolls back one of two conflicting transactions; retrying is safe. */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "40P01" || code === "40001";
}
